"""The portal dashboard's two faces over HTTP. Brand staff: per open campaign samples,
notes, clicks, attributed orders, GMV, commissions, cost and ROI (the same figures as
`campaign_report`) with charts; creators: earnings by state with a chart, next deadlines
and new invitations. Charts are inline SVG with a table beside them; campaign titles are
escaped in the page and in the SVG; the query count does not grow with the data."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from core.auth.models import User
from core.auth.service import load_actor
from core.campaigns import reports
from core.campaigns.models import Campaign, Collaboration
from core.db import utcnow
from core.orders.models import Order
from core.testing import QueryCounter, html_login, settle
from tests.core.test_payouts import (
    NOW,
    collaboration,
    earn,
    fixed_fee,
    make_creator,
    make_world,
)
from tests.core.test_reports import clicks

XSS = '<script>alert("dash")</script>'


async def portal_login(client: Any, email: str) -> None:
    client.cookies.clear()
    client.cookies.set("zc_lang", "en")
    await html_login(client, email, path="/creator/login")


def td(html: str, row: str, testid: str) -> str:
    """The cell `testid` of the table row `row` (or of the first row after `row`)."""
    found = re.search(rf'data-testid="{row}"(.*?)</tbody>', html, re.DOTALL)
    assert found, f"no row {row}"
    value = re.search(rf'data-testid="{testid}">(.*?)</td>', found.group(1), re.DOTALL)
    assert value, f"no {testid} in {row}"
    return value.group(1).strip()


def svgs(html: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", html, re.DOTALL)


async def paid_now(runtime: Any) -> None:
    """The test orders were paid just now (the GMV chart goes by payment date)."""
    async with runtime.db.session() as s:
        await s.execute(update(Order).where(Order.paid_at.is_(None)).values(paid_at=utcnow()))
        await s.commit()


async def another_campaign(runtime: Any, world: Any, title: str, status: str = "open") -> Any:
    async with runtime.db.session() as s:
        campaign = Campaign(brand_id=world.brand_id, title=title, status=status, currency=world.currency, budget_minor=0, eligibility={})
        s.add(campaign)
        await s.commit()
        return dataclasses.replace(world, campaign_id=campaign.id)


@pytest.fixture
async def brand_world(zc_runtime, zc_make_user, zc_make_product):
    """An open campaign: mia published and sold twice (and has a fixed fee), leo got his
    sample, jun sold once; a self-referral that must not count; a draft campaign and
    another brand's campaign that must not show."""
    world = await make_world(zc_runtime, zc_make_user, zc_make_product, title=f"Glow {XSS}")
    mia = await make_creator(zc_runtime, zc_make_user, "mia.dash")
    leo = await make_creator(zc_runtime, zc_make_user, "leo.dash")
    jun = await make_creator(zc_runtime, zc_make_user, "jun.dash")
    shipped = NOW - timedelta(days=20)
    mia_collab = await collaboration(zc_runtime, world, mia.id, status="published", shipped_at=shipped, published_at=NOW - timedelta(days=10))
    leo_collab = await collaboration(zc_runtime, world, leo.id, status="sample_delivered", shipped_at=shipped)
    await earn(zc_runtime, world, mia.id, 10_000, line_total=100_000, attributed=True)
    await earn(zc_runtime, world, mia.id, 5_000, status="pending", line_total=50_000, attributed=True)
    await earn(zc_runtime, world, jun.id, 40_000, line_total=400_000, attributed=True)
    await earn(zc_runtime, world, mia.id, 0, line_total=999_999, attributed=True, blocked="self_referral:user", commission=False)
    await fixed_fee(zc_runtime, world, mia.id, 20_000)
    await clicks(zc_runtime, mia_collab, 3)
    await clicks(zc_runtime, leo_collab, 1)
    await another_campaign(zc_runtime, world, "Still a draft", status="draft")
    other = await make_world(zc_runtime, zc_make_user, zc_make_product, title="Other brand campaign")
    await earn(zc_runtime, other, mia.id, 7_000, line_total=70_000, attributed=True)
    await paid_now(zc_runtime)
    return world, other, mia


async def _owner_id(session: Any, world: Any) -> int:
    return (await session.execute(select(User.id).where(User.email == world.owner_email))).scalar_one()


async def test_brand_dashboard_figures_match_the_campaign_report(zc_client, zc_runtime, brand_world):
    world, _other, _mia = brand_world
    await portal_login(zc_client, world.owner_email)
    page = await zc_client.get("/creator")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-testid="my-brands"' in html and 'data-testid="brand-dashboard"' in html
    assert f'href="/creator/brands/{world.brand_slug}/money"' in html
    row = f"campaign-row-{world.campaign_id}"
    shown = {k: td(html, row, k) for k in ("samples", "notes", "clicks", "orders", "gmv", "commissions", "cost", "roi")}
    assert shown == {"samples": "2", "notes": "1", "clicks": "4", "orders": "3", "gmv": "¥5,500.00", "commissions": "¥550.00", "cost": "¥750.00", "roi": "6.33×"}
    assert "Still a draft" not in html and "Other brand campaign" not in html

    # the same figures as the campaign report the brand can open
    async with zc_runtime.db.read_session() as s:
        owner = await load_actor(s, await _owner_id(s, world))
        report = await reports.campaign_report(s, zc_runtime, owner, world.campaign_id)
        batch = (await reports.campaign_figures(s, [world.campaign_id]))[world.campaign_id]
    assert (batch.samples_sent, batch.notes_published, batch.clicks, batch.attributed_orders, batch.gmv_minor, batch.cost_minor) == (
        report.samples_sent, report.notes_published, report.clicks, report.attributed_orders, report.gmv_minor, report.cost_minor)
    assert batch.commissions_minor == sum(report.commissions[s].amount_minor for s in reports.OWED_STATES)
    assert batch.roi_ppm == report.roi_ppm

    # charts: per campaign (the table above is its summary) and the last 30 days with a table
    assert re.search(r'data-testid="campaign-chart".*?<svg', html, re.DOTALL)
    over_time = re.search(r'data-testid="brand-chart-table">(.*?)</table>', html, re.DOTALL)
    assert over_time, "the 30-day chart has its table"
    today = utcnow().strftime("%Y-%m-%d")
    assert f'<th scope="row">{today}</th><td class="num">¥5,500.00</td><td class="num">¥550.00</td>' in over_time.group(1)


async def test_campaign_titles_are_escaped_in_the_page_and_the_svg(zc_client, brand_world):
    world, *_ = brand_world
    await portal_login(zc_client, world.owner_email)
    html = (await zc_client.get("/creator")).text
    assert XSS not in html
    assert "Glow &lt;script&gt;alert(&#34;dash&#34;)&lt;/script&gt;" in html
    drawings = svgs(html)
    assert len(drawings) >= 2
    for svg in drawings:
        assert "<script" not in svg and "javascript" not in svg.lower(), "the SVG is inert: no pygal scripts, no raw labels"
    campaign_svg = re.search(r'data-testid="campaign-chart".*?(<svg.*?</svg>)', html, re.DOTALL).group(1)
    assert "&lt;script&gt;" in campaign_svg and 'role="img"' in campaign_svg


async def test_creator_dashboard(zc_client, zc_runtime, zc_make_user, zc_make_product, brand_world):
    world, _other, mia = brand_world
    # an invitation, a deadline coming up, one already settled, and someone else's invitation
    invited_by = await make_world(zc_runtime, zc_make_user, zc_make_product, title=f"Invite {XSS}")
    invitation = await collaboration(zc_runtime, invited_by, mia.id, status="invited")
    due_in = await make_world(zc_runtime, zc_make_user, zc_make_product, title="Due soon")
    due = await collaboration(zc_runtime, due_in, mia.id, status="sample_delivered", deadline_at=utcnow() + timedelta(days=2))
    async with zc_runtime.db.session() as s:
        await s.execute(update(Collaboration).where(Collaboration.campaign_id == world.campaign_id, Collaboration.creator_user_id == mia.id).values(deadline_at=utcnow() + timedelta(days=1)))
        await s.commit()  # published already: not a deadline any more
    stranger = await make_creator(zc_runtime, zc_make_user, "stranger.dash")
    await collaboration(zc_runtime, await another_campaign(zc_runtime, invited_by, "Not for mia"), stranger.id, status="invited")

    await portal_login(zc_client, mia.email)
    html = (await zc_client.get("/creator")).text
    assert 'data-testid="creator-card"' in html and 'data-testid="brand-dashboard"' not in html
    assert td(html, "creator-earnings", "dash-earned-CNY-approved") == "¥170.00"  # both brands
    assert td(html, "creator-earnings", "dash-earned-CNY-pending") == "¥50.00"
    assert re.search(r'data-testid="creator-chart".*?<svg', html, re.DOTALL) and 'data-testid="creator-chart-table"' in html
    invitations = re.search(r'data-testid="creator-invitations">(.*?)</section>', html, re.DOTALL).group(1)
    assert f'href="/creator/me/collaborations/{invitation}"' in invitations and "Invite &lt;script&gt;" in invitations
    assert "Not for mia" not in html and 'href="/creator/me/collaborations"' in invitations
    deadlines = re.search(r'data-testid="creator-deadlines">(.*?)</section>', html, re.DOTALL).group(1)
    assert f'href="/creator/me/collaborations/{due}"' in deadlines and "Due soon" in deadlines and "due-soon" in deadlines
    assert "Glow" not in deadlines
    assert 'href="/creator/me/campaigns"' in html and 'href="/creator/me/earnings"' in html
    assert XSS not in html
    for svg in svgs(html):
        assert "<script" not in svg


async def test_creator_without_anything_yet(zc_client, zc_make_user):
    creator = await zc_make_user(roles=("creator",))
    await portal_login(zc_client, creator.email)
    html = (await zc_client.get("/creator")).text
    assert "Campaigns you can join will appear here." in html and "No new invitations." in html and "No deadlines coming up." in html
    assert "<svg" not in html


async def test_brand_without_open_campaigns(zc_client, zc_make_user):
    owner = await zc_make_user(brand=("quiet-brand", "owner"))
    await portal_login(zc_client, owner.email)
    html = (await zc_client.get("/creator")).text
    assert "No open campaigns." in html and "<svg" not in html


async def count_dashboard(client: Any, runtime: Any, email: str) -> int:
    await portal_login(client, email)
    await settle(runtime)
    with QueryCounter() as q:
        response = await client.get("/creator")
    assert response.status_code == 200
    return q.count


async def test_dashboard_query_count_does_not_grow(zc_client, zc_runtime, zc_make_user, zc_make_product):
    """The same statements for one campaign, commission and invitation as for many."""
    counts = {}
    for n in (1, 4):
        world = await make_world(zc_runtime, zc_make_user, zc_make_product, title=f"Main {n}")
        creator = await make_creator(zc_runtime, zc_make_user, f"count.{n}")
        for i in range(n):
            campaign = world if i == 0 else await another_campaign(zc_runtime, world, f"Extra {n}.{i}")
            collab = await collaboration(zc_runtime, campaign, creator.id, status="published", shipped_at=NOW, published_at=NOW)
            await clicks(zc_runtime, collab, 2)
            await earn(zc_runtime, campaign, creator.id, 1_000, attributed=True)
            await earn(zc_runtime, campaign, creator.id, 500, status="pending", attributed=True)
            await fixed_fee(zc_runtime, campaign, creator.id, 2_000)
            inviting = await make_world(zc_runtime, zc_make_user, zc_make_product, title=f"Invite {n}.{i}")
            await collaboration(zc_runtime, inviting, creator.id, status="invited")
            due = await make_world(zc_runtime, zc_make_user, zc_make_product, title=f"Due {n}.{i}")
            await collaboration(zc_runtime, due, creator.id, status="sample_delivered", deadline_at=utcnow() + timedelta(days=i + 1))
        await paid_now(zc_runtime)
        counts[n] = (await count_dashboard(zc_client, zc_runtime, world.owner_email), await count_dashboard(zc_client, zc_runtime, creator.email))
    assert counts[1] == counts[4], counts


async def test_a_brand_member_who_is_also_a_creator_sees_both_faces(zc_client, zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product, title="Both faces")
    both = await zc_make_user(roles=("creator",), brand=(world.brand_slug, "staff"))
    await earn(zc_runtime, world, both.id, 1_000, attributed=True)
    await portal_login(zc_client, both.email)
    html = (await zc_client.get("/creator")).text
    assert 'data-testid="my-brands"' in html and 'data-testid="brand-dashboard"' in html and 'data-testid="creator-card"' in html
    assert td(html, f"campaign-row-{world.campaign_id}", "commissions") == "¥10.00"
    assert td(html, "creator-earnings", "dash-earned-CNY-approved") == "¥10.00"
