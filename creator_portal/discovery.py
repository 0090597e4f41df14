"""Creator discovery for brand staff: search creators by tier, category, audience,
engagement, region and rate; a creator's page (stats, recent notes through the
`portal_creator_notes` slot, this brand's own history with them, fulfilment rate);
invitations to the brand's draft or open campaigns, and the brand's shortlist.

Everything sits under `/creator/brands/{slug}/creators`. A brand the signed-in user does
not work for is "not found", exactly like a missing one, and so is another brand's
campaign in an invitation form. The profiles and collaborations services keep the rules.
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect
from sqlalchemy import select

from core import forms
from core.auth.models import User
from core.auth.permissions import Actor
from core.campaigns import campaigns as campaign_service
from core.campaigns import collaborations as collabs
from core.campaigns import profiles
from core.campaigns.models import (
    CampaignStatus,
    CollabStatus,
    CreatorProfile,
    StatsSource,
)
from core.errors import NotFound, ValidationFailed
from core.orders.cart import DEFAULT_CURRENCY
from core.web import login_required, render
from creator_portal.changes import attempt
from creator_portal.commerce import my_brand
from creator_portal.translations import CAMPAIGN_LABELS, COLLAB_LABELS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
PER_PAGE = 20
MAX_PAGE = 500
SORTS = (("followers", "Most followers"), ("engagement", "Highest engagement"), ("newest", "Newest"))
TEXT_FIELDS = ("q", "category", "region", "followers_min", "followers_max", "engagement_min", "rate_max", "rate_currency", "sort")
S = CollabStatus


# ---------------------------------------------------------------- reading the search form


def _last(params: dict[str, list[str]], name: str) -> str:
    values = [v.strip() for v in params.get(name, []) if v.strip()]
    return values[-1] if values else ""


def _count(raw: str, what: str) -> int | None:
    if not raw:
        return None
    value = forms.whole_number(raw.replace(",", "").replace(" ", ""), what)
    if value < 0:
        raise ValidationFailed(f"{what} must be 0 or more")
    return value


def search_filter(params: dict[str, list[str]]) -> profiles.CreatorFilter:
    """The page's GET form as the service's filter. Empty fields are ignored; followers
    are whole numbers, engagement a percentage ("2.5"), the rate in major units of the
    chosen currency (CNY unless another is picked)."""
    category = _last(params, "category").lower()
    if category and not profiles.SLUG_RE.match(category):
        raise ValidationFailed("category: a lowercase word such as beauty or skincare")
    region = _last(params, "region").upper()
    if region and not profiles.REGION_RE.match(region):
        raise ValidationFailed("region: an ISO 3166 code such as CN or CN-SH")
    sort = _last(params, "sort") or "followers"
    if sort not in dict(SORTS):
        raise ValidationFailed("choose a sort order from the list")
    engagement = _last(params, "engagement_min").rstrip("%").strip()
    rate = _last(params, "rate_max")
    currency = _last(params, "rate_currency").upper() or DEFAULT_CURRENCY
    if currency not in profiles.RATE_CURRENCIES:
        raise ValidationFailed("choose the price's currency from the list")
    return profiles.CreatorFilter(
        q=_last(params, "q")[:120] or None,
        tiers=tuple(dict.fromkeys(v.strip() for v in params.get("tier", []) if v.strip())),
        category=category or None,
        region=region or None,
        min_followers=_count(_last(params, "followers_min"), "followers (from)"),
        max_followers=_count(_last(params, "followers_max"), "followers (to)"),
        min_engagement_ppm=campaign_service.percent(engagement, "engagement rate") if engagement else None,
        max_rate_image_minor=forms.amount_minor(rate, currency) if rate else None,
        rate_currency=currency,
        sort=sort,
    )


def _page_number(params: dict[str, list[str]]) -> int:
    raw = _last(params, "page")
    return min(int(raw), MAX_PAGE) if raw.isdigit() and int(raw) >= 1 else 1


def _page_link(params: dict[str, list[str]], page: int) -> str:
    """This search (its filters as given) on another page."""
    kept = [(k, v) for k, values in params.items() if k not in ("page", "notice") for v in values]
    return "?" + urlencode([*kept, ("page", str(page))])


# ---------------------------------------------------------------- what the templates show


def rounded_percent(ppm: int) -> str:
    """An engagement rate for people: one decimal, "6.5"."""
    return f"{Decimal(ppm) / 10_000:.1f}"


def creator_card(runtime: Runtime, slug: str, p: CreatorProfile, name: str, *, shortlisted: bool = False) -> dict[str, Any]:
    return {
        "user_id": p.user_id, "handle": p.handle, "name": name or p.handle, "initial": (name or p.handle)[:1].upper(),
        "href": f"/creator/brands/{slug}/creators/{p.handle}", "tier": profiles.tier_of(runtime, p.followers),
        "followers": f"{p.followers:,}", "avg_engagement": f"{p.avg_engagement:,}", "engagement": rounded_percent(p.engagement_rate_ppm),
        "region": p.region, "categories": list(p.categories or []), "bio": p.bio,
        "rate_currency": p.rate_currency, "rate_image": p.rate_image_minor, "rate_video": p.rate_video_minor,
        "self_reported": p.stats_source == StatsSource.SELF_REPORTED, "shortlisted": shortlisted,
    }


async def invitable_campaigns(session: AsyncSession, actor: Actor | None, slug: str) -> list[Any]:
    """The brand's campaigns that take invitations: open ones first, then drafts."""
    found = []
    for status in (CampaignStatus.OPEN, CampaignStatus.DRAFT):
        found += await campaign_service.campaigns_of(session, actor, brand_slug=slug, status=status, limit=100)
    return found


def _with_notice(url: str, notice: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "notice"] + [("notice", notice)]
    return urlunsplit(("", "", parts.path, urlencode(query), parts.fragment))


def _back(slug: str, raw: str, default: str) -> str:
    """Where a form came from (a page of this section), else `default`: never elsewhere."""
    base = f"/creator/brands/{slug}/creators"
    local = raw == base or raw.startswith((base + "?", base + "/"))
    if local and len(raw) <= 2000 and "//" not in raw and "\\" not in raw and all(ch > " " for ch in raw):
        return raw
    return default


def _campaign_id(raw: str) -> int:
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationFailed("choose a campaign")
    return int(raw)


# ---------------------------------------------------------------- pages


class CreatorDiscoveryPages(Controller):
    path = "/brands/{slug:str}/creators"
    guards = [login_required]

    @get("/")
    async def search(self, request: Request, slug: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        params = request.query_params.dict()
        base = f"/creator/brands/{slug}/creators"
        page = _page_number(params)
        ctx: dict[str, Any] = {
            "brand": brand, "section": "creators", "base": base, "tiers": profiles.tiers(runtime), "sorts": SORTS, "rate_currencies": profiles.RATE_CURRENCIES,
            "form": {**{name: _last(params, name) for name in TEXT_FIELDS}, "tier": params.get("tier", [])},
            "cards": [], "total": 0, "page": page, "error": None, "back": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        }
        try:
            found, total = await profiles.find_creators(session, runtime, search_filter(params), limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
        except ValidationFailed as exc:
            return await render(request, "portal/creators.html", {**ctx, "error": exc.detail}, status_code=422)
        listed = await profiles.shortlisted_among(session, actor, brand.id, [p.user_id for p, _ in found])
        ctx.update(
            cards=[creator_card(runtime, slug, p, name, shortlisted=p.user_id in listed) for p, name in found], total=total,
            previous_url=_page_link(params, page - 1) if page > 1 else None,
            next_url=_page_link(params, page + 1) if page * PER_PAGE < total and page < MAX_PAGE else None,
        )
        return await render(request, "portal/creators.html", ctx)

    @get("/shortlist")
    async def shortlist(self, request: Request, slug: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._shortlist_page(request, session, runtime, actor, slug)

    async def _shortlist_page(
        self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, slug: str, *,
        error: str | None = None, failed: str | None = None, form: dict[str, str] | None = None, status_code: int = 200,
    ) -> Any:
        brand = await my_brand(session, actor, slug)
        entries = await profiles.shortlist_list(session, actor, brand.id, limit=200)
        rows = [{**creator_card(runtime, slug, p, name, shortlisted=True), "note": entry.note} for entry, p, name in entries]
        return await render(
            request, "portal/creators_shortlist.html",
            {
                "brand": brand, "section": "creators", "base": f"/creator/brands/{slug}/creators", "rows": rows,
                "campaigns": await invitable_campaigns(session, actor, slug), "campaign_labels": CAMPAIGN_LABELS, "collab_labels": COLLAB_LABELS,
                "error": error, "failed": failed, "form": form or {},
            },
            status_code=status_code,
        )

    @get("/{handle:str}")
    async def creator(self, request: Request, slug: str, handle: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._creator_page(request, session, runtime, actor, slug, handle, refresh=True)

    async def _creator_page(
        self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, slug: str, handle: str, *,
        refresh: bool = False, error: str | None = None, failed: str | None = None, form: dict[str, str] | None = None, status_code: int = 200,
    ) -> Any:
        brand = await my_brand(session, actor, slug)
        profile = await profiles.profile_by_handle(session, handle)
        if refresh:  # a reading request only: it may write fresh figures in a transaction of its own
            profile = await profiles.refreshed_for_reading(runtime, profile)
        name = (await session.execute(select(User.display_name).where(User.id == profile.user_id))).scalar_one_or_none() or ""
        history = await profiles.history_with_brand(session, actor, brand.id, profile.user_id)
        joined = {campaign.id: collab.status for collab, campaign in history}
        record = await collabs.fulfilment(session, profile.user_id)
        listed = await profiles.shortlisted_among(session, actor, brand.id, [profile.user_id])
        return await render(
            request, "portal/creators_profile.html",
            {
                "brand": brand, "section": "creators", "base": f"/creator/brands/{slug}/creators",
                "creator": creator_card(runtime, slug, profile, name, shortlisted=bool(listed)), "creator_user_id": profile.user_id,
                "stats_source": profile.stats_source, "stats_updated_at": profile.stats_updated_at,
                "fulfilment": record, "fulfilment_rate": rounded_percent(record.rate_ppm) if record.rate_ppm is not None else None,
                "history": history, "collab_labels": COLLAB_LABELS, "campaign_labels": CAMPAIGN_LABELS,
                "campaigns": await invitable_campaigns(session, actor, slug), "joined": joined,
                "error": error, "failed": failed, "form": form or {},
            },
            status_code=status_code,
        )

    # -- changes

    def _form_page(
        self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, slug: str, handle: str, back: str, failed: str, form: dict[str, str],
    ) -> Any:
        """The page the form was on, to show again with the service's message."""
        if back.startswith(f"/creator/brands/{slug}/creators/shortlist"):
            return partial(self._shortlist_page, request, session, runtime, actor, slug, failed=failed, form=form)
        return partial(self._creator_page, request, session, runtime, actor, slug, handle, failed=failed, form=form)

    @post("/{handle:str}/invite")
    async def invite(self, request: Request, slug: str, handle: str, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        """Invite the creator to one of this brand's draft or open campaigns; inviting twice
        is one invitation."""
        brand = await my_brand(session, actor, slug)
        form = {"campaign_id": forms.text(data, "campaign_id"), "message": forms.text(data, "message"), "handle": handle}
        back = _back(slug, forms.text(data, "back"), f"/creator/brands/{slug}/creators/{handle}")

        async def work() -> None:
            campaign = await campaign_service.campaign_for_brand(session, actor, _campaign_id(form["campaign_id"]))
            if campaign.brand_id != brand.id:  # a campaign of another of the caller's brands
                raise NotFound("no such campaign")
            await collabs.invite(session, runtime, actor, campaign.id, handle=handle, message=form["message"])

        page = self._form_page(request, session, runtime, actor, slug, handle, back, "invite", form)
        return await attempt(session, work, _with_notice(back, "Invitation sent."), page)

    @post("/{handle:str}/shortlist")
    async def shortlist_add(self, request: Request, slug: str, handle: str, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        back = _back(slug, forms.text(data, "back"), f"/creator/brands/{slug}/creators/{handle}")
        note = forms.text(data, "note") if "note" in data else None
        page = self._form_page(request, session, runtime, actor, slug, handle, back, "shortlist", {"note": note or "", "handle": handle})
        return await attempt(session, lambda: profiles.shortlist_add(session, actor, brand.id, handle, note=note), _with_notice(back, "Added to the shortlist."), page)

    @post("/{handle:str}/shortlist/remove")
    async def shortlist_remove(self, request: Request, slug: str, handle: str, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        back = _back(slug, forms.text(data, "back"), f"/creator/brands/{slug}/creators/{handle}")
        await profiles.shortlist_remove(session, actor, brand.id, handle)
        await session.commit()
        return Redirect(_with_notice(back, "Removed from the shortlist."), status_code=303)


TRANSLATIONS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "Search creators": "搜索博主",
        "Search": "搜索",
        "Name, handle or bio": "昵称、账号或简介",
        "Tier": "级别",
        "from {n}": "{n} 起",
        "e.g. skincare": "例如 skincare",
        "Region": "地区",
        "e.g. CN or CN-SH": "例如 CN 或 CN-SH",
        "Followers": "粉丝",
        "Followers from": "粉丝数下限",
        "Followers up to": "粉丝数上限",
        "Min": "最低",
        "Max": "最高",
        "Engagement rate at least (%)": "互动率不低于（%）",
        "e.g. 3": "例如 3",
        "Image note price up to": "图文笔记报价不高于",
        "e.g. 2000": "例如 2000",
        "Sort by": "排序",
        "Most followers": "粉丝最多",
        "Highest engagement": "互动率最高",
        "Newest": "最新",
        "Apply filters": "筛选",
        "Clear": "清除",
        "{n} creator": "{n} 位博主",
        "{n} creators": "{n} 位博主",
        "No creators match these filters.": "没有符合条件的博主。",
        "{n} followers": "{n} 粉丝",
        "{rate}% engagement": "互动率 {rate}%",
        "Image note": "图文笔记",
        "Video note": "视频笔记",
        "No rate card": "未填写报价",
        "Shortlist": "收藏夹",
        "Shortlisted": "已收藏",
        "Remove from the shortlist": "移出收藏夹",
        "Added to the shortlist.": "已加入收藏夹。",
        "Removed from the shortlist.": "已移出收藏夹。",
        "No creators on the shortlist yet. Find creators and tap ☆ Shortlist to keep them here.": "收藏夹还是空的。去找博主，点 ☆ 收藏夹 把他们留在这里。",
        "All creators": "全部博主",
        "Audience": "粉丝画像",
        "Engagement per note": "篇均互动",
        "Engagement rate": "互动率",
        "Fulfilment rate": "履约率",
        "Audience figures are self-reported by the creator.": "粉丝数据由博主自行填写。",
        "Audience figures are computed from their notes.": "粉丝数据根据其笔记计算。",
        "Updated {when}.": "更新于 {when}。",
        "{on_time} of {total} collaborations published on time (all brands).": "{total} 次合作中有 {on_time} 次按时发布（所有品牌）。",
        "No collaboration has reached its posting deadline yet.": "还没有合作到达发布截止日期。",
        "Rate card": "报价",
        "Collaborations with {brand}": "与 {brand} 的合作",
        "No collaborations with {brand} yet.": "还没有与 {brand} 合作过。",
        "Since": "开始于",
        "late": "逾期",
        "on time": "按时",
        "Invite to a campaign": "邀请参加活动",
        "Message": "留言",
        "Invite": "邀请",
        "Invitation sent.": "邀请已发送。",
        "No draft or open campaign to invite into yet.": "还没有可邀请的草稿或进行中的活动。",
        "Create a campaign": "创建活动",
        # statuses
        
        
        # messages of the search form
        "category: a lowercase word such as beauty or skincare": "分类：小写英文单词，例如 beauty 或 skincare",
        "region: an ISO 3166 code such as CN or CN-SH": "地区：ISO 3166 代码，例如 CN 或 CN-SH",
        "choose a sort order from the list": "请从列表中选择排序方式",
        "choose a campaign": "请选择一个活动",
    },
}
