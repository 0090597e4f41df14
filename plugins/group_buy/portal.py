"""Brand staff's team offers under /creator/group-buy/brands/{slug}/offers, and the portal slot.

The brand's navigation gets an "Team offers" tab through the `portal_brand_nav` slot
(the portal knows nothing of this plugin). `service.create_offer` / `update_offer` keep
the rules (a team price above the solo price is refused, the same price is allowed with a
warning shown here); these handlers read forms and show what they answer. Another
brand's offer or slug is 404, like a missing one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect
from markupsafe import Markup

from core import forms
from core.campaigns.campaigns import brand_for
from core.catalog import service as catalog
from core.db import utcnow
from core.errors import DomainError, NotFound, ValidationFailed
from core.inventory import service as inventory
from core.orders import cart as carts
from core.web import login_required, render
from plugins.group_buy import service
from plugins.group_buy.models import DEFAULT_TIME_LIMIT_MINUTES, GroupOffer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor
    from core.catalog.models import Brand
    from core.runtime import Runtime

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
VARIANTS_SHOWN = 200  # products listed in the variant picker
DATE_FORMAT = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">, read as UTC
SAME_PRICE_WARNING = "the team price is the same as the solo price: shoppers gain nothing by teaming up"


# ---------------------------------------------------------------- forms


def _when(raw: str, what: str) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return datetime.strptime(raw[:16], DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ValidationFailed(f"{what} is a date and time such as 2026-12-01T10:00", extra={"fields": {what.replace(" ", "_"): "invalid"}}) from None


def _whole(raw: str, field: str) -> int:
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 9:
        raise ValidationFailed(f"{field.replace('_', ' ')} must be a whole number", extra={"fields": {field: "invalid"}})
    return int(raw)


HOURS_RANGE = "the time limit is a whole number of hours from 1 to {n}"


def _read(data: dict[str, Any], currency: str) -> dict[str, Any]:
    """The form's fields as the service's values; a field that cannot be read is a 422 naming it."""
    try:
        price = forms.amount_minor(forms.text(data, "team_price"), currency)
    except ValidationFailed as exc:
        raise ValidationFailed(exc.detail, extra={"fields": {"team_price_minor": "invalid"}}) from None
    hours = _whole(forms.text(data, "time_limit_hours"), "time_limit_hours")
    total = forms.text(data, "total_limit").strip()
    return {
        "team_price_minor": price, "team_size": _whole(forms.text(data, "team_size"), "team_size"), "time_limit_minutes": hours * 60,
        "per_user_limit": _whole(forms.text(data, "per_user_limit"), "per_user_limit"), "total_limit": _whole(total, "total_limit") if total else None,
        "pool_id": int(forms.text(data, "pool_id")) if forms.text(data, "pool_id").strip().isdigit() else None,
        "ends_at": _when(forms.text(data, "ends_at"), "ends at"), "auto_complete": forms.text(data, "auto_complete") == "1",
    }


def _form_of(offer: GroupOffer) -> dict[str, str]:
    return {
        "variant_id": str(offer.variant_id), "team_price": forms.major(offer.team_price_minor, offer.currency), "team_size": str(offer.team_size),
        "time_limit_hours": str(offer.time_limit_minutes // 60), "per_user_limit": str(offer.per_user_limit), "total_limit": "" if offer.total_limit is None else str(offer.total_limit),
        "pool_id": "" if offer.pool_id is None else str(offer.pool_id), "starts_at": _aware(offer.starts_at).strftime(DATE_FORMAT),
        "ends_at": _aware(offer.ends_at).strftime(DATE_FORMAT) if offer.ends_at else "", "auto_complete": "1" if offer.auto_complete else "",
    }


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _notice(path: str, notice: str) -> str:
    return f"{path}?{urlencode({'notice': notice})}"


def _state(offer: GroupOffer, now: datetime) -> str:
    if not offer.active:
        return "Inactive"
    if _aware(offer.starts_at) > now:
        return "Not started yet"
    if offer.ends_at is not None and _aware(offer.ends_at) <= now:
        return "Ended"
    return "Running"


# ---------------------------------------------------------------- pages


class BrandOfferPages(Controller):
    path = "/brands/{slug:str}/offers"
    guards = [login_required]  # noqa: RUF012

    @get("/", name="group_buy_offers")
    async def offers(self, request: Request, slug: str, session: AsyncSession, actor: Actor | None) -> Any:
        brand = await brand_for(session, actor, slug)
        offers = await service.offers_of_brand(session, actor, brand.slug, limit=100)
        counts = await service.team_counts(session, [o.id for o in offers])
        labels = await _variant_labels(session, actor, brand)
        now = utcnow()
        rows = [
            {"offer": o, "label": labels.get(o.variant_id, f"#{o.variant_id}"), "state": _state(o, now), "counts": counts[o.id],
             "solo": await service.solo_price(session, o.variant_id, o.currency)}
            for o in offers
        ]  # fmt: skip
        return await render(request, "group_buy/portal_offers.html", {"brand": brand, "rows": rows, "section": "group_buy"})

    @get("/new")
    async def new(self, request: Request, slug: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        brand = await brand_for(session, actor, slug)
        form = {"team_size": "2", "time_limit_hours": str(DEFAULT_TIME_LIMIT_MINUTES // 60), "per_user_limit": "1", "starts_at": "", "ends_at": ""}
        return await self._form(request, session, runtime, actor, brand, None, form)

    @post("/")
    async def create(self, request: Request, slug: str, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        brand = await brand_for(session, actor, slug)
        form = {k: forms.text(data, k) for k in ("variant_id", "team_price", "team_size", "time_limit_hours", "per_user_limit", "total_limit", "pool_id", "starts_at", "ends_at", "auto_complete")}
        try:
            values = _read(data, carts.DEFAULT_CURRENCY)
            variant = forms.text(data, "variant_id").strip()
            starts = _when(forms.text(data, "starts_at"), "starts at")
            offer, warnings = await service.create_offer(
                session, runtime, actor, brand.slug,
                service.OfferInput(variant_id=int(variant) if variant.isdigit() and len(variant) < 19 else None, starts_at=starts, **values),
            )
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            if isinstance(exc, NotFound) and "variant" not in exc.detail and "pool" not in exc.detail:
                raise
            brand = await brand_for(session, actor, slug)  # the rollback expired it
            return await self._form(request, session, runtime, actor, brand, None, form, failure=exc)
        return Redirect(_notice(f"/creator/group-buy/brands/{brand.slug}/offers/{offer.id}", warnings[0] if warnings else "Offer created"), status_code=303)

    @get("/{offer_id:int}")
    async def edit(self, request: Request, slug: str, offer_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        brand = await brand_for(session, actor, slug)
        offer = await _offer(session, actor, brand, offer_id)
        return await self._form(request, session, runtime, actor, brand, offer, _form_of(offer))

    @post("/{offer_id:int}")
    async def update(self, request: Request, slug: str, offer_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        brand = await brand_for(session, actor, slug)
        offer = await _offer(session, actor, brand, offer_id)
        form = {**_form_of(offer), **{k: forms.text(data, k) for k in ("team_price", "team_size", "time_limit_hours", "per_user_limit", "total_limit", "pool_id", "ends_at", "auto_complete")}}
        try:
            _offer_row, warnings = await service.update_offer(session, runtime, actor, offer.id, _read(data, offer.currency))
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            if isinstance(exc, NotFound) and "pool" not in exc.detail:
                raise
            brand = await brand_for(session, actor, slug)  # the rollback expired it
            offer = await _offer(session, actor, brand, offer_id)
            return await self._form(request, session, runtime, actor, brand, offer, form, failure=exc)
        return Redirect(_notice(f"/creator/group-buy/brands/{brand.slug}/offers/{offer_id}", warnings[0] if warnings else "Offer saved"), status_code=303)

    @post("/{offer_id:int}/active")
    async def set_active(self, request: Request, slug: str, offer_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        """Deactivate (no new teams; open ones run their course) or activate again."""
        brand = await brand_for(session, actor, slug)
        offer = await _offer(session, actor, brand, offer_id)
        active = forms.text(data, "active") == "1"
        await service.update_offer(session, runtime, actor, offer.id, {"active": active})
        await session.commit()
        return Redirect(_notice(f"/creator/group-buy/brands/{brand.slug}/offers", "Offer activated" if active else "Offer deactivated"), status_code=303)

    async def _form(
        self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, brand: Brand, offer: GroupOffer | None, form: dict[str, str], *,
        failure: DomainError | None = None,
    ) -> Any:
        variants = await _variant_labels(session, actor, brand)
        pools = await inventory.pools_of_brand(session, brand.id, limit=100)
        ctx: dict[str, Any] = {
            "brand": brand, "offer": offer, "form": form, "variants": variants, "pools": pools, "section": "group_buy", "currency": offer.currency if offer else carts.DEFAULT_CURRENCY,
            "solo": await service.solo_price(session, offer.variant_id, offer.currency) if offer else None, "max_hours": runtime.settings.authorization_hold_hours,
            "error": None, "error_args": {}, "errors": {}, "warning": None,
        }  # fmt: skip
        if offer is not None and ctx["solo"] == offer.team_price_minor and offer.active:
            ctx["warning"] = SAME_PRICE_WARNING
        if failure is not None:
            ctx["error"], ctx["errors"] = failure.detail, failure.extra.get("fields", {})
            if "time_limit_minutes" in ctx["errors"]:  # the service counts minutes; this form asks hours
                ctx["error"], ctx["error_args"] = HOURS_RANGE, {"n": ctx["max_hours"]}
                ctx["errors"] = {**{k: v for k, v in ctx["errors"].items() if k != "time_limit_minutes"}, "time_limit_hours": "invalid"}
        return await render(request, "group_buy/portal_offer_form.html", ctx, status_code=failure.status_code if failure else 200)


async def _offer(session: AsyncSession, actor: Actor | None, brand: Brand, offer_id: int) -> GroupOffer:
    """An offer of this brand (the caller works for it); any other is 404."""
    offer = await service.offer_for_brand(session, actor, offer_id)
    if offer.brand_id != brand.id:
        raise NotFound("no such offer")
    return offer


async def _variant_labels(session: AsyncSession, actor: Actor | None, brand: Brand) -> dict[int, str]:
    """Variant id -> "Product · options (SKU)" for the brand's products (drafts included)."""
    views = await catalog.list_brand_products(session, actor, brand.id, limit=VARIANTS_SHOWN)
    out = {}
    for view in views:
        for vv in view.variants:
            options = " · ".join(str(x) for x in (vv.variant.options or {}).values())
            price = vv.prices.get(carts.DEFAULT_CURRENCY)
            out[vv.variant.id] = f"{view.product.title}{' · ' + options if options else ''} ({vv.variant.sku})" + (f" {forms.major(price.amount_minor, carts.DEFAULT_CURRENCY)}" if price else "")
    return out


PORTAL_PAGES: list[Any] = [BrandOfferPages]


# ---------------------------------------------------------------- slots


async def page_context(template: str, context: dict[str, Any], runtime: Runtime) -> dict[str, Any] | None:
    return None


def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    if slot == "portal_brand_nav" and context.get("brand") is not None:
        brand = context["brand"]
        current = Markup(' aria-current="page"') if context.get("section") == "group_buy" else Markup("")
        return Markup('<a href="/creator/group-buy/brands/{}/offers"{} data-testid="brand-group-buy-tab">{}</a>').format(brand.slug, current, context["_"]("Team offers"))
    return None


TRANSLATIONS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "Team offers": "拼团活动",
        "New team offer": "新建拼团活动",
        "Edit team offer": "编辑拼团活动",
        "No team offers yet.": "还没有拼团活动。",
        "Running": "进行中",
        "Not started yet": "未开始",
        "Ended": "已结束",
        "Inactive": "已停用",
        "Variant": "规格",
        "Team price": "拼团价",
        "Solo price": "单买价",
        "Team size": "成团人数",
        "people": "人",
        "Time limit (hours)": "成团时限（小时）",
        "At most {n} h: a card authorization must outlive the team.": "最多 {n} 小时：卡的预授权必须比团的时限更长。",
        "Per-shopper limit": "每人限参团数",
        "Teams one shopper may be in at once for this offer.": "同一位顾客在这个活动中最多能同时参加的团数。",
        "Total limit": "总限量",
        "Units sold through this offer at most; empty for no limit.": "通过这个活动最多售出的件数；留空为不限。",
        "Stock pool": "库存池",
        "None: the variant's normal stock": "不使用：用这个规格的普通库存",
        "Units set aside for this offer (Stock page); it must hold this variant.": "为这个活动预留的库存（见库存页）；必须是这个规格的库存。",
        "Starts at (UTC)": "开始时间（UTC）",
        "Ends at (UTC)": "结束时间（UTC）",
        "Empty: starts now.": "留空：立即开始。",
        "Empty: runs until you deactivate it.": "留空：一直进行，直到你停用它。",
        "Auto-complete (off by default)": "自动成团（默认关闭）",
        "When the time runs out with at least the leader paid, the team completes as if full: everyone who paid gets the team price, with fewer people than the team size. Leave it off to refund teams that do not fill.":
            "时间到了、至少团长已付款时，按满员处理成团：所有已付款的人都以拼团价成交，即使人数不足。保持关闭则未满员的团全部退款。",
        "Turn on auto-complete": "开启自动成团",
        "Create offer": "创建活动",
        "Save offer": "保存活动",
        "Deactivate": "停用",
        "Activate": "重新启用",
        "Deactivating stops new teams; open teams run until they fill or time out.": "停用后不能再开新团；进行中的团会继续，直到成团或超时。",
        "Offer created": "拼团活动已创建",
        "Offer saved": "拼团活动已保存",
        "Offer activated": "拼团活动已启用",
        "Offer deactivated": "拼团活动已停用",
        "Teams: {open} open · {succeeded} succeeded · {failed} failed": "团：{open} 个进行中 · {succeeded} 个成功 · {failed} 个失败",
        "Team price {price} · team of {n}": "拼团价 {price} · {n}人团",
        "Solo price {price}": "单买价 {price}",
        "Open teams keep the price and size they opened with.": "已开的团保留开团时的价格和人数。",
        # the service's messages
        SAME_PRICE_WARNING: "拼团价与单买价相同：顾客拼团得不到优惠",
        "the team price must be lower than the solo price": "拼团价必须低于单买价",
        "team size is a whole number from 2 to 50": "成团人数须为 2 到 50 之间的整数",
        "no such variant": "没有这个规格",
        "no such stock pool": "没有这个库存池",
        "the stock pool holds another variant": "这个库存池存放的是另一个规格",
        "the offer must end after it starts": "结束时间必须晚于开始时间",
        "team size must be a whole number": "成团人数须为整数",
        "time limit hours must be a whole number": "成团时限须为整数小时",
        HOURS_RANGE: "成团时限须为 1 到 {n} 之间的整数小时",
        "per user limit must be a whole number": "每人限参团数须为整数",
        "total limit must be a whole number": "总限量须为整数",
        "per user limit is a whole number from 1 to 1000": "每人限参团数须为 1 到 1000 之间的整数",
        "team price is a whole number from 1 to 1000000000000": "拼团价超出范围",
        "enter an amount such as 12.50": "请输入金额，例如 12.50",
    }
}
