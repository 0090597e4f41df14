"""The guest cart cookie: a shopper without an account keeps a cart by its token.

One place for every page that adds to a cart (the storefront's product page, a
plugin's note page, sign-in merging the guest's cart)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.orders import cart as carts
from core.orders.models import Cart, CartStatus

if TYPE_CHECKING:
    from litestar import Request, Response
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor

CART_COOKIE = "zc_cart"
CART_COOKIE_AGE = 30 * 86400


def secure_cookies(request: Request) -> bool:
    from core.web import runtime_of

    return runtime_of(request).settings.public_url.startswith("https://")


async def current_cart(session: AsyncSession, request: Request, actor: Actor | None) -> Cart | None:
    """A signed-in shopper's open cart; a guest's from the `zc_cart` cookie."""
    if actor is not None:
        return await carts.find_cart(session, None, actor)
    token = request.cookies.get(CART_COOKIE)
    cart = await carts.find_cart(session, token, None) if token else None
    if cart is None or cart.status not in (CartStatus.OPEN, CartStatus.CHECKING_OUT):
        return None  # paid or merged meanwhile: the next add starts a new cart
    return cart


def keep_guest_cart(response: Response, request: Request, cart: Cart) -> None:
    """Remember a cart just made for a guest."""
    response.set_cookie(CART_COOKIE, cart.token, max_age=CART_COOKIE_AGE, httponly=True, samesite="lax", secure=secure_cookies(request), path="/")
