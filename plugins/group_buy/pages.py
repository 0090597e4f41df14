"""The shopper's team pages under /group-buy, and the storefront slots.

Thin like the storefront's own pages: `service` decides who may take a seat and why not;
these handlers read forms, call it and show what it answers. A seat ends on the core's
payment page (`/checkout/{token}`), which sends an authorized card back to the team page
(the checkout's return_path). The team page is public (it is the share link), except a
team whose leader has not paid yet: only she sees it. Every page works without
JavaScript; a tiny script only ticks the countdowns and copies the share link.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect
from sqlalchemy import select

from core.catalog import service as catalog
from core.db import utcnow
from core.payments import service as payments
from core.errors import Conflict, DomainError, NotFound
from core.orders.pages import ShowForm, address_form, address_then_payment
from core.web import login_required, render
from plugins.group_buy import service
from plugins.group_buy.models import HOLDING, GroupOffer, MemberStatus, Team, TeamStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor
    from core.runtime import Runtime

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
PageNumber = Annotated[int, Parameter(ge=1, le=10_000)]
OPEN_TEAMS_SHOWN = 6  # open teams listed under a product's offer
PER_PAGE = 20

STATUS_LABELS = {TeamStatus.OPEN: "Team open", TeamStatus.SUCCEEDED: "Team succeeded", TeamStatus.FAILED: "Team failed"}
REASON_LABELS = {
    "full": "The team filled: every member's order is paid.",
    "auto_complete": "The time ran out and the team completed with the members who had paid.",
    "expired": "The time ran out before the team filled: every card was released, nobody was charged.",
    "leader_left": "The leader did not pay, so the team never opened.",
}
MEMBER_LABELS = {
    MemberStatus.SEATED: "Your seat is held while you pay.",
    MemberStatus.AUTHORIZED: "Your card is authorized: you pay only when the team fills.",
    MemberStatus.PAID: "Paid: the team filled and your order is confirmed.",
    MemberStatus.REFUNDED: "Refunded: your card was not charged.",
    MemberStatus.LEFT: "You left this team before paying.",
}
MEMBER_SHORT = {MemberStatus.SEATED: "Paying", MemberStatus.AUTHORIZED: "Authorized", MemberStatus.PAID: "Paid", MemberStatus.REFUNDED: "Refunded", MemberStatus.LEFT: "Left the team"}
PER_USER_PREFIX = "you can be in at most"  # service._check_per_user's message, shown with the offer's number


# ---------------------------------------------------------------- view helpers


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def time_left(expires_at: datetime, now: datetime | None = None) -> dict[str, Any]:
    """Seconds left and the same as H:MM:SS, rendered on the server (a script may tick it)."""
    seconds = max(0, int((_aware(expires_at) - (now or utcnow())).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return {"seconds": seconds, "clock": f"{hours}:{rest // 60:02d}:{rest % 60:02d}", "at": _aware(expires_at).strftime("%Y-%m-%d %H:%M UTC")}


def face_of(face: service.Face) -> dict[str, Any]:
    name = face.name.strip() or "?"
    return {"name": name, "initial": name[:1].upper(), "leader": face.is_leader, "status": face.status}


def friendly(exc: DomainError, offer: GroupOffer | None) -> tuple[str, dict[str, Any]]:
    """The service's message as the page shows it (translated in TRANSLATIONS)."""
    if isinstance(exc, Conflict) and exc.detail.startswith(PER_USER_PREFIX) and offer is not None:
        return "Teams per shopper in this offer: at most {n}. You have reached that.", {"n": offer.per_user_limit}
    return exc.detail, {}


async def _offer_view(session: AsyncSession, offer: GroupOffer) -> dict[str, Any]:
    product = (await catalog.variant_cards(session, [offer.variant_id])).get(offer.variant_id, {})
    return {
        "id": offer.id, "team_price": offer.team_price_minor, "solo_price": await service.solo_price(session, offer.variant_id, offer.currency), "currency": offer.currency,
        "size": offer.team_size, "hours": offer.time_limit_minutes // 60, "minutes": offer.time_limit_minutes, "product": product, "live": service.is_live(offer, utcnow()),
    }


def _team_view(team: Team, faces: list[service.Face], now: datetime) -> dict[str, Any]:
    return {
        "id": team.id, "href": f"/group-buy/teams/{team.id}", "status": team.status, "status_label": STATUS_LABELS.get(team.status, team.status),
        "reason": REASON_LABELS.get(team.closed_reason or "", None), "size": team.size, "seats_left": max(0, team.size - team.seats_taken),
        "members": [face_of(f) for f in faces], "left": time_left(team.expires_at, now), "leader_user_id": team.leader_user_id,
        "joinable": team.status == TeamStatus.OPEN and team.seats_taken < team.size and _aware(team.expires_at) > now and team.authorized_count >= 1,
    }


async def visible_team(session: AsyncSession, team_id: int, actor: Actor | None) -> tuple[Team, GroupOffer]:
    """A team anyone may see; one whose leader has not paid yet only she sees (404 to others)."""
    team, offer, _members = await service.team_view(session, team_id)
    if team.authorized_count < 1 and (actor is None or actor.user_id != team.leader_user_id):
        raise NotFound("no such team")
    return team, offer


# ---------------------------------------------------------------- pages


class GroupBuyPages(Controller):
    path = "/"

    # -- opening a team

    @get("/offers/{offer_id:int}/open", guards=[login_required])
    async def open_form(self, request: Request, offer_id: int, session: AsyncSession, actor: Actor | None) -> Any:
        offer = await self._live_offer(session, offer_id)
        return await address_form(session, actor, self._open_page(request, session, offer))  # type: ignore[arg-type]

    @post("/offers/{offer_id:int}/open")
    async def open(self, request: Request, offer_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        """From the product card (no address yet: the form), or the form itself: take the seat and pay."""
        offer = await self._live_offer(session, offer_id)

        async def start(address: dict[str, str]) -> str:
            return (await service.open_team(runtime, actor, offer.id, address=address)).checkout_token

        return await address_then_payment(request, session, actor, data, here=f"/group-buy/offers/{offer_id}/open", show_form=self._open_page(request, session, offer), start=start)

    async def _live_offer(self, session: AsyncSession, offer_id: int) -> GroupOffer:
        offer = await session.get(GroupOffer, offer_id)
        if offer is None or not service.is_live(offer, utcnow()):
            raise NotFound("no such offer")
        return offer

    def _open_page(self, request: Request, session: AsyncSession, offer: GroupOffer) -> ShowForm:
        async def show(address: dict[str, str], failure: DomainError | None, status_code: int) -> Any:
            ctx = {"mode": "open", "offer": await _offer_view(session, offer), "team": None, "address": address, "action": f"/group-buy/offers/{offer.id}/open", **_failure(failure, offer)}
            return await render(request, "group_buy/seat.html", ctx, status_code=status_code)

        return show

    # -- joining one

    @get("/teams/{team_id:int}/join", guards=[login_required])
    async def join_form(self, request: Request, team_id: int, session: AsyncSession, actor: Actor | None) -> Any:
        team, offer = await visible_team(session, team_id, actor)
        mine = await service.member_of(session, team.id, actor.user_id)  # type: ignore[union-attr]
        if mine is not None and mine[0].status in HOLDING:
            return Redirect(f"/group-buy/teams/{team.id}", status_code=303)
        return await address_form(session, actor, self._join_page(request, session, team_id, actor))  # type: ignore[arg-type]

    @post("/teams/{team_id:int}/join")
    async def join(self, request: Request, team_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        team, _offer = await visible_team(session, team_id, actor)

        async def start(address: dict[str, str]) -> str:
            return (await service.join_team(runtime, actor, team.id, address=address)).checkout_token

        return await address_then_payment(request, session, actor, data, here=f"/group-buy/teams/{team_id}/join", show_form=self._join_page(request, session, team_id, actor), start=start)

    def _join_page(self, request: Request, session: AsyncSession, team_id: int, actor: Actor | None) -> ShowForm:
        async def show(address: dict[str, str], failure: DomainError | None, status_code: int) -> Any:
            team, offer = await visible_team(session, team_id, actor)  # as it is now: a refusal may have come from its change
            faces = (await service.faces_of_teams(session, [team.id])).get(team.id, [])
            ctx = {
                "mode": "join", "offer": await _offer_view(session, offer), "team": _team_view(team, faces, utcnow()), "address": address,
                "action": f"/group-buy/teams/{team.id}/join", **_failure(failure, offer),
            }
            return await render(request, "group_buy/seat.html", ctx, status_code=status_code)

        return show

    # -- the team page (the share link)

    @get("/teams/{team_id:int}", name="group_buy_team")
    async def team(self, request: Request, team_id: int, session: AsyncSession, actor: Actor | None) -> Any:
        team, offer = await visible_team(session, team_id, actor)
        faces = (await service.faces_of_teams(session, [team.id], refunded=team.status == TeamStatus.FAILED)).get(team.id, [])
        mine = await service.member_of(session, team.id, actor.user_id) if actor is not None else None
        me = None
        if mine is not None:
            member, token = mine
            status = member.status
            if status == MemberStatus.SEATED and member.checkout_id is not None and await payments.is_authorized(session, member.checkout_id):
                status = MemberStatus.AUTHORIZED  # she has just paid: the event that counts her seat is on its way
            me = {"status": status, "label": MEMBER_LABELS.get(status, status), "leader": member.is_leader, "pay_href": f"/checkout/{token}" if token and status == MemberStatus.SEATED else None}
        view = _team_view(team, faces, utcnow())
        share = str(request.base_url).rstrip("/") + f"/group-buy/teams/{team.id}"
        return await render(request, "group_buy/team.html", {"offer": await _offer_view(session, offer), "team": view, "me": me, "share_url": share})

    # -- my teams

    @get("/me", guards=[login_required], name="group_buy_me")
    async def my_teams(self, request: Request, session: AsyncSession, actor: Actor | None, page: PageNumber = 1) -> Any:
        """Her teams, newest first, with how each stands for her (how one that ended ended
        reached her as a notice: the top bar's "Notices")."""
        user_id = actor.user_id  # type: ignore[union-attr]
        rows = await service.teams_of_user(session, user_id, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
        rows, has_next = rows[:PER_PAGE], len(rows) > PER_PAGE
        offer_ids = {t.offer_id for t, _m in rows}
        offers = {o.id: o for o in (await session.execute(select(GroupOffer).where(GroupOffer.id.in_(offer_ids or {0})))).scalars()}
        products = await catalog.variant_cards(session, list({o.variant_id for o in offers.values()}))
        now = utcnow()
        items = [
            {
                "team": _team_view(t, [], now), "offer": offers[t.offer_id], "product": products.get(offers[t.offer_id].variant_id, {}), "leader": m.is_leader,
                "member_status": m.status, "member_label": MEMBER_SHORT.get(m.status, m.status),
            }
            for t, m in rows
        ]
        pager = {"page": page, "prev": page - 1 if page > 1 else None, "next": page + 1 if has_next else None}
        return await render(request, "group_buy/me.html", {"items": items, "pager": pager})


def _failure(exc: DomainError | None, offer: GroupOffer | None) -> dict[str, Any]:
    if exc is None:
        return {"error": None, "error_args": {}, "errors": {}, "problems": []}
    message, args = friendly(exc, offer)
    return {"error": message, "error_args": args, "errors": exc.extra.get("fields", {}), "problems": exc.extra.get("problems", [])}


STOREFRONT_PAGES: list[Any] = [GroupBuyPages]


# ---------------------------------------------------------------- slots


async def page_context(template: str, context: dict[str, Any], runtime: Runtime) -> dict[str, Any] | None:
    """The product page's offer card: live offers of its variants and their open teams
    (four queries; none without an offer)."""
    if template != "storefront/product.html" or not context.get("variants"):
        return None
    variants = {v["id"]: v for v in context["variants"]}
    now = utcnow()
    async with runtime.db.read_session() as session:
        offers = await service.live_offers_of_variants(session, list(variants), now)
        if not offers:
            return None
        teams = await service.open_teams(session, offer_ids=[o.id for o in offers.values()], limit=OPEN_TEAMS_SHOWN * len(offers), now=now)
        faces = await service.faces_of_teams(session, [t.id for t in teams])
    cards = []
    for variant_id, offer in offers.items():
        v = variants[variant_id]
        price = v.get("price")
        solo = price.amount_minor if price is not None and context.get("currency") == offer.currency else None
        cards.append({
            "id": offer.id, "team_price": offer.team_price_minor, "solo_price": solo, "currency": offer.currency, "size": offer.team_size,
            "label": v.get("label") if len(variants) > 1 else None, "sold_out": v.get("sold_out", False),
            "teams": [_team_view(t, faces.get(t.id, []), now) for t in teams if t.offer_id == offer.id][:OPEN_TEAMS_SHOWN],
        })  # fmt: skip
    return {"group_buy_offers": cards}


def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    if slot == "product_aside" and context.get("group_buy_offers"):
        return context["render_template"]("group_buy/_product_card.html", offers=context["group_buy_offers"])
    if slot == "account_menu" and context.get("actor") is not None:
        return context["render_template"]("group_buy/_account_menu.html")
    return None


TRANSLATIONS: dict[str, dict[str, str]] = {
    "zh-CN": {
        # the product card
        "Team purchase": "拼团",
        "Team price {price} · team of {n}": "拼团价 {price} · {n}人团",
        "Solo price {price}": "单买价 {price}",
        "Save {amount} by teaming up.": "拼团立省 {amount}。",
        "Open a team": "发起拼团",
        "Open a team for {label}": "为 {label} 发起拼团",
        "Open teams to join": "可参加的团",
        "No open teams yet: open one and share the link.": "还没有进行中的团：发起一个，把链接分享给朋友。",
        "Join": "去参团",
        "{n} seat left": "还差 {n} 人",
        "{n} seats left": "还差 {n} 人",
        "Time left": "剩余时间",
        "Leader": "团长",
        "Members": "团员",
        "Avatar of {name}": "{name} 的头像",
        # opening and joining
        "Open a team: {title}": "发起拼团：{title}",
        "Join the team: {title}": "参加拼团：{title}",
        "Your card is only authorized now. It is charged when the team fills; if the time runs out first, the authorization is released and you pay nothing.":
            "现在只会预授权你的卡。成团时才扣款；若时间到了仍未成团，预授权会被释放，你不需要付任何钱。",
        "Time limit: {hours} h once the team opens.": "开团后 {hours} 小时内有效。",
        "Team of {n}": "{n}人团",
        "Continue to authorize the card": "继续：预授权付款",
        "This team cannot be joined right now.": "这个团现在无法参加。",
        "See the team": "查看拼团",
        "Teams per shopper in this offer: at most {n}. You have reached that.": "这个拼团活动每人最多参加 {n} 个团，你已达到上限。",
        # the service's messages
        "this is your own team": "这是你自己发起的团",
        "you are in this team already": "你已经在这个团里了",
        "this team is full: it has succeeded already": "这个团已满员：已经拼团成功",
        "this team has closed without filling": "这个团未能成团，已经结束",
        "this team's time has run out": "这个团的时间已到",
        "this team opens once its leader has paid": "团长付款后才能参团",
        "this team is full: every seat is taken or being paid for": "这个团已满员：所有名额都已被占用或正在付款",
        "this offer has sold out": "这个拼团活动已售罄",
        "this product is not for sale right now": "这个商品暂时不可购买",
        "no such team": "没有这个团",
        "no such offer": "没有这个拼团活动",
        # the team page
        "Team #{id}": "拼团 #{id}",
        "Team open": "拼团中",
        "Team succeeded": "拼团成功",
        "Team failed": "拼团失败",
        "The team filled: every member's order is paid.": "已成团：每位团员的订单都已付款。",
        "The time ran out and the team completed with the members who had paid.": "时间已到，已按已付款的团员成团。",
        "The time ran out before the team filled: every card was released, nobody was charged.": "时间到了仍未成团：所有预授权都已释放，没有人被扣款。",
        "The leader did not pay, so the team never opened.": "团长没有付款，这个团没有开成。",
        "Ends at {at}": "截止于 {at}",
        "Share this team": "分享这个团",
        "Send this link to friends: the team succeeds when {n} people have joined.": "把链接发给朋友：凑满 {n} 人即拼团成功。",
        "Team link": "拼团链接",
        "Copy link": "复制链接",
        "Copied": "已复制",
        "Join this team": "参加这个团",
        "Your seat is held while you pay.": "付款期间为你保留名额。",
        "Your card is authorized: you pay only when the team fills.": "你的卡已预授权：成团时才扣款。",
        "Paid: the team filled and your order is confirmed.": "已付款：拼团成功，订单已确认。",
        "Refunded: your card was not charged.": "已退款：你的卡没有被扣款。",
        "You left this team before paying.": "你在付款前离开了这个团。",
        "Finish paying": "继续付款",
        "Your team": "你的团",
        # my teams
        "My teams": "我的拼团",
        # the members' notices (service.tell_members)
        "Your team for {product} filled: your order is paid.": "你参加的「{product}」拼团已成团：订单已付款。",
        "Your team for {product} completed without your payment: you were not charged.": "你参加的「{product}」拼团已成团，但你未完成付款：没有扣款。",
        "Your team for {product} did not fill: you were not charged.": "你参加的「{product}」拼团未成团：没有扣款。",
        "You have not joined a team yet.": "你还没有参加过拼团。",
        "Paying": "付款中",
        "Authorized": "已预授权",
        "Paid": "已付款",
        "Refunded": "已退款",
        "Left the team": "已离开",
        "Leader of this team": "我是团长",
        "Member": "团员",
    }
}
