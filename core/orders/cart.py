"""Carts: a guest's (by cookie token) or a user's; merged at login.

A cart holds variant ids and quantities only. Prices are computed each time it is
shown or checked out (core.pricing), so nothing a client sends is ever a price.
"""

from __future__ import annotations

import functools
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete, select, update

from core.auth.permissions import Actor
from core.db import dialect_insert, utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.money import validate_currency
from core.orders.models import CART_KIND_SHOP, MAX_LINE_QUANTITY, Cart, CartLine, CartStatus
from core.pricing import Quote, load_cart, load_lines, price_lines

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

DEFAULT_CURRENCY = "CNY"


def check_quantity(quantity: object, *, allow_zero: bool = False) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValidationFailed("quantity must be a whole number")
    low = 0 if allow_zero else 1
    if quantity < low or quantity > MAX_LINE_QUANTITY:
        raise ValidationFailed(f"quantity must be between {low} and {MAX_LINE_QUANTITY}")
    return quantity


async def new_cart(session: AsyncSession, *, user_id: int | None, currency: str = DEFAULT_CURRENCY, kind: str = CART_KIND_SHOP) -> Cart:
    """A cart; `kind` other than "shop" makes a plugin's one-off cart (a team purchase):
    the plugin prices and checks it out itself, and it is never the shopper's cart."""
    try:
        currency = validate_currency(currency)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc
    cart = Cart(token=str(uuid.uuid4()), user_id=user_id, currency=currency, status=CartStatus.OPEN, kind=kind)
    session.add(cart)
    await session.flush()
    return cart


async def find_cart(session: AsyncSession, token: str | None, actor: Actor | None) -> Cart | None:
    """The caller's cart: a user's open cart, else the guest cart named by `token`.

    A token for a cart that belongs to another user finds nothing (404 upstream, so
    nothing leaks); a guest cart's token is its only key.
    """
    if token:
        try:
            uuid.UUID(token)
        except ValueError:
            return None
        # a merged or paid cart is history: its token finds nothing
        cart = (await session.execute(_cart_by_token(), {"token": token})).scalar_one_or_none()
        if cart is not None and cart.kind != CART_KIND_SHOP:
            return None  # a plugin's one-off cart: only its plugin handles it
        if cart is not None and (cart.user_id is None or (actor is not None and cart.user_id == actor.user_id)):
            return cart
        if cart is not None and cart.user_id is not None:
            return None
    if actor is not None:
        return (
            await session.execute(
                select(Cart)
                .where(Cart.user_id == actor.user_id, Cart.kind == CART_KIND_SHOP, Cart.status.in_((CartStatus.OPEN, CartStatus.CHECKING_OUT)))
                .order_by(Cart.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    return None


async def require_cart(session: AsyncSession, token: str | None, actor: Actor | None) -> Cart:
    cart = await find_cart(session, token, actor)
    if cart is None:
        raise NotFound("no such cart")
    return cart


def _require_open(cart: Cart) -> None:
    if cart.status == CartStatus.CHECKING_OUT:
        raise Conflict("this cart is in checkout; finish or cancel the payment first")
    if cart.status != CartStatus.OPEN:
        raise Conflict("this cart is closed")


async def set_line(session: AsyncSession, cart: Cart, *, variant_id: int, quantity: int, add: bool = False) -> None:
    """Set (or with `add`, increase) a line's quantity; 0 removes it."""
    _require_open(cart)
    check_quantity(quantity, allow_zero=not add)
    if add and quantity == 0:
        raise ValidationFailed("quantity must be at least 1")
    # Core statements, no ORM objects: the cart's lines are only ever read by column
    # (cart_lines, pricing.load_cart)
    table = CartLine.__table__
    if quantity == 0:  # set to 0: remove
        await session.execute(delete(table).where(table.c.cart_id == cart.id, table.c.variant_id == variant_id))
    else:
        await load_lines(session, cart.currency, [(variant_id, quantity)])  # sellable, priced in this currency
        # one upsert: a new line, or the existing one set (or increased) within the cap
        stmt = dialect_insert(session, table).values(cart_id=cart.id, variant_id=variant_id, quantity=quantity, added_at=utcnow())
        new_quantity = (table.c.quantity + stmt.excluded.quantity) if add else stmt.excluded.quantity
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.cart_id, table.c.variant_id], set_={"quantity": new_quantity}, where=new_quantity <= MAX_LINE_QUANTITY
        ).returning(table.c.quantity)
        if (await session.execute(stmt)).first() is None:
            raise ValidationFailed(f"at most {MAX_LINE_QUANTITY} of one item per order")
    await session.execute(update(Cart).where(Cart.id == cart.id).values(updated_at=utcnow()).execution_options(synchronize_session=False))


async def cart_lines(session: AsyncSession, cart_id: int) -> list[tuple[int, int]]:
    rows = await session.execute(_lines_of_cart(), {"cart_id": cart_id})
    return [(v, q) for v, q in rows.all()]


# built once (bound parameters): every cart request runs them
@functools.cache
def _cart_by_token():
    return select(Cart).where(Cart.token == bindparam("token"), Cart.status.in_((CartStatus.OPEN, CartStatus.CHECKING_OUT)))


@functools.cache
def _lines_of_cart():
    return select(CartLine.variant_id, CartLine.quantity).where(CartLine.cart_id == bindparam("cart_id")).order_by(CartLine.id)


async def price_cart(session: AsyncSession, runtime: Runtime, cart: Cart, *, region: str | None = None) -> Quote:
    """Current prices for the cart; lines that stopped being sellable are dropped from the
    quote and reported by `unavailable_lines`, so a stale cart still renders."""
    lines, brands = await load_cart(session, cart.id, cart.currency, strict=False)  # the sellable lines and their brands, one query
    return await price_lines(
        session, runtime, currency=cart.currency, user_id=cart.user_id, lines=lines, brands=brands, region=region, codes=cart_codes(cart), cart_id=cart.id, cart_kind=cart.kind
    )


def cart_codes(cart: Cart) -> tuple[str, ...]:
    """The creator codes applied to a cart (or its checkout), for pricing."""
    return tuple(c["code"] for c in cart.codes or () if isinstance(c, dict) and c.get("code"))


async def sellable_lines(session: AsyncSession, cart: Cart) -> list[tuple[int, int]]:
    """The cart's lines that can still be bought in its currency (one query)."""
    from core.catalog.models import Product, ProductStatus, Variant, VariantPrice

    rows = await session.execute(
        select(CartLine.variant_id, CartLine.quantity)
        .join(Variant, Variant.id == CartLine.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .join(VariantPrice, (VariantPrice.variant_id == Variant.id) & (VariantPrice.currency == cart.currency))
        .where(CartLine.cart_id == cart.id, Variant.is_active.is_(True), Product.status == ProductStatus.ACTIVE)
        .order_by(CartLine.id)
    )
    return [(v, q) for v, q in rows.all()]


async def merge_guest_cart(session: AsyncSession, guest_token: str | None, actor: Actor) -> Cart | None:
    """At login: fold the guest cart into the user's open cart (quantities add up, capped)."""
    if not guest_token:
        return None
    guest = await find_cart(session, guest_token, None)
    if guest is None or guest.user_id is not None or guest.status != CartStatus.OPEN:
        return None
    mine = (
        await session.execute(select(Cart).where(Cart.user_id == actor.user_id, Cart.kind == CART_KIND_SHOP, Cart.status == CartStatus.OPEN).order_by(Cart.id.desc()).limit(1))
    ).scalar_one_or_none()
    if mine is None:
        guest.user_id = actor.user_id  # adopt it
        await session.flush()
        return guest
    for variant_id, quantity in await cart_lines(session, guest.id):
        line = (await session.execute(select(CartLine).where(CartLine.cart_id == mine.id, CartLine.variant_id == variant_id))).scalar_one_or_none()
        if line is None:
            session.add(CartLine(cart_id=mine.id, variant_id=variant_id, quantity=quantity))
        else:
            line.quantity = min(MAX_LINE_QUANTITY, line.quantity + quantity)
    await session.execute(delete(CartLine).where(CartLine.cart_id == guest.id))
    guest.status = CartStatus.MERGED
    await session.flush()
    return mine
