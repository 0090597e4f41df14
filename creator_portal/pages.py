"""Core portal pages: the dashboard a brand member or creator lands on.

Two faces, by role. Brand staff: their brands, and per open campaign the headline
figures (`reports.campaign_figures`: one grouped query per source for all campaigns)
with charts. Creators: earnings by state with a chart, next deadlines and new
invitations. A user who is both sees both.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from litestar import Controller, Request, get

from core.auth.permissions import Actor
from core.campaigns import collaborations, commissions, reports
from core.campaigns.campaigns import campaigns_of
from core.campaigns.models import Campaign, CampaignStatus, CollabStatus
from core.catalog import service as catalog
from core.db import utcnow
from core.web import login_required, render
from creator_portal import charts
from creator_portal.money import (
    CHART_MONTHS,
    STATE_LABELS,
    STATES,
    by_state,
    months_back,
    ratio_text,
    state_chart,
    translator,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

DASH_CAMPAIGNS = 20  # open campaigns shown
DASH_DAYS = 30
DASH_ITEMS = 5  # deadlines, invitations
SETTLED = {CollabStatus.PUBLISHED, CollabStatus.COMPLETED, CollabStatus.DECLINED, CollabStatus.CANCELLED}


class PortalPages(Controller):
    path = "/"

    @get("/", guards=[login_required])
    async def dashboard(self, request: Request, session: AsyncSession, actor: Actor | None) -> Any:
        assert actor is not None
        _ = translator(request, actor)
        memberships = await catalog.brands_of_user(session, actor.user_id)
        context: dict[str, Any] = {"memberships": memberships, "state_labels": STATE_LABELS, "states": STATES}
        if memberships:
            context["brand_face"] = await brand_face(session, actor, {b.id: b for b, _role in memberships}, _)
        if actor.has_role("creator"):
            context["creator_face"] = await creator_face(session, actor, _)
        return await render(request, "portal/dashboard.html", context)


async def brand_face(session: AsyncSession, actor: Actor, brands: dict[int, Any], _: Any) -> dict[str, Any]:
    """The open campaigns of the user's brands with their figures, and per currency a
    chart per campaign (GMV, cost) and one over the last 30 days (GMV, commissions)."""
    found = [c for c in await campaigns_of(session, actor, status=CampaignStatus.OPEN, limit=DASH_CAMPAIGNS) if c.brand_id in brands]
    ids = [c.id for c in found]
    figures = await reports.campaign_figures(session, ids)
    days = charts.last_days(DASH_DAYS, utcnow())
    since = charts.start_of(days[0])
    gmv = await reports.gmv_over_time(session, ids, since=since, unit="day") if ids else []
    earned = await reports.commissions_over_time(session, since=since, unit="day", campaign_ids=ids) if ids else []
    by_currency: dict[str, list[Campaign]] = defaultdict(list)
    for c in found:
        by_currency[c.currency].append(c)
    sections = []
    for currency, campaigns in sorted(by_currency.items()):
        fmt = charts.money_format(currency)
        per_campaign = charts.chart(
            "hbar", _("GMV and cost per campaign ({currency})", currency=currency), [c.title for c in campaigns],
            [(_("GMV"), [figures[c.id].gmv_minor for c in campaigns]), (_("Cost"), [figures[c.id].cost_minor for c in campaigns])],
            fmt=fmt, label_title=_("Campaign"), height=max(180, 70 + 48 * len(campaigns)),
        )
        daily_gmv, daily_commissions = defaultdict(int), defaultdict(int)
        for day, cur, amount in gmv:
            if cur == currency:
                daily_gmv[day] += amount
        for day, cur, state, amount in earned:
            if cur == currency and state in reports.OWED_STATES:
                daily_commissions[day] += amount
        over_time = charts.chart(
            "line", _("Last 30 days ({currency})", currency=currency), days,
            [(_("GMV"), [daily_gmv[d] for d in days]), (_("Commissions"), [daily_commissions[d] for d in days])],
            fmt=fmt, label_title=_("Day"), major_every=7,
        ) if daily_gmv or daily_commissions else None
        rows = [{"campaign": c, "brand": brands[c.brand_id], "f": figures[c.id], "roi": ratio_text(figures[c.id].roi_ppm)} for c in campaigns]
        sections.append({"currency": currency, "rows": rows, "per_campaign": per_campaign, "over_time": over_time})
    return {"sections": sections}


async def creator_face(session: AsyncSession, actor: Actor, _: Any) -> dict[str, Any]:
    """Earnings by state and over the last months, the next deadlines, new invitations."""
    totals = by_state(await commissions.totals(session, creator_user_id=actor.user_id))
    periods, since = months_back(CHART_MONTHS)
    over_time = await reports.commissions_over_time(session, since=since, unit="month", creator_user_id=actor.user_id)
    chart_list = [c for c in (state_chart(over_time, cur, periods, _("Commissions by month ({currency})", currency=cur), _) for cur in totals) if c]
    mine = await collaborations.collaborations_of_creator(session, actor, limit=100)
    invitations = [c for c in mine if c.status == CollabStatus.INVITED][:DASH_ITEMS]
    deadlines = sorted((c for c in mine if c.deadline_at is not None and c.status not in SETTLED), key=lambda c: c.deadline_at)[:DASH_ITEMS]
    names = await reports.campaign_names(session, sorted({c.campaign_id for c in invitations + deadlines}))
    return {"totals": totals, "charts": chart_list, "invitations": invitations, "deadlines": deadlines, "names": names, "now": utcnow(), "soon": utcnow() + timedelta(days=3)}
