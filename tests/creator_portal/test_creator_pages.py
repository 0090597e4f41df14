"""A creator's own pages in the portal, over HTTP with CSRF: the campaign marketplace
(eligible or not, and why), applying with a pitch, invitations, my collaborations
(submit a note picked from my notes, or a URL when the notes plugin is off), links and
codes with their clicks, orders and commission, and my profile and payout settings.
Another creator's ids are 404; text from brands and creators renders as text."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.campaigns.models import (
    Campaign,
    CampaignProduct,
    Collaboration,
    CollaborationTransition,
    CommissionRate,
    CreatorProfile,
    DiscountCode,
    TrackedLink,
)
from core.db import utcnow
from core.testing import ADDRESS, QueryCounter, html_login, post_form, settle

XSS = "<script>alert('x')</script>"
ME = "/creator/me"


async def login(client: Any, email: str) -> None:
    client.cookies.set("zc_lang", "en")
    await html_login(client, email, path="/creator/login")


async def creator(runtime: Any, make_user: Any, handle: str, *, followers: int = 48_000, region: str = "CN-SH", categories: tuple[str, ...] = ("skincare",)) -> Any:
    user = await make_user(f"{handle.replace('.', '-')}@example.com", roles=("creator",))
    async with runtime.db.session() as s:
        s.add(CreatorProfile(
            user_id=user.id, handle=handle, bio="", categories=list(categories), region=region, followers=followers, avg_engagement=1_000,
            engagement_rate_ppm=0, rate_currency="CNY", payout_details={},
        ))  # fmt: skip
        await s.commit()
    return user


async def campaign(
    runtime: Any, variant: Any, *, title: str = "Night Repair seeding", brief: str = "Show your night routine.", status: str = "open",
    recruitment: str = "open", eligibility: dict[str, Any] | None = None, fixed_fee_minor: int | None = 30_000, rate_ppm: int = 120_000,
) -> int:
    """An open campaign of the variant's brand seeding its product at 12% (rows, as opened)."""
    from core.catalog.models import Product

    async with runtime.db.session() as s:
        product = await s.get(Product, variant.product_id)
        row = Campaign(
            brand_id=product.brand_id, title=title, brief=brief, status=status, currency="CNY", recruitment=recruitment, eligibility=eligibility or {},
            fixed_fee_minor=fixed_fee_minor, opened_at=utcnow() if status != "draft" else None,
        )  # fmt: skip
        s.add(row)
        await s.flush()
        item = CampaignProduct(campaign_id=row.id, product_id=product.id, sample_variant_id=variant.id, sample_quantity=0)
        s.add(item)
        await s.flush()
        s.add(CommissionRate(campaign_product_id=item.id, effective_from=utcnow() - timedelta(days=1), kind="percent", rate_ppm=rate_ppm, flat_minor=0))
        await s.commit()
        return row.id


async def collaboration(runtime: Any, campaign_id: int, user: Any, status: str, **values: Any) -> int:
    async with runtime.db.session() as s:
        row = Collaboration(
            campaign_id=campaign_id, creator_user_id=user.id, status=status, origin="invited" if status == "invited" else "applied",
            **{"reminders_sent": 0, "review_comment": "", **values},
        )  # fmt: skip
        s.add(row)
        await s.commit()
        return row.id


async def collab_row(runtime: Any, collaboration_id: int) -> Collaboration:
    async with runtime.db.read_session() as s:
        return await s.get(Collaboration, collaboration_id)


async def count(runtime: Any, model: Any) -> int:
    async with runtime.db.read_session() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


def part(html: str, name: str) -> str:
    found = re.search(rf'<(\w+)[^>]*data-testid="{re.escape(name)}"[^>]*>(.*?)</\1>', html, re.DOTALL)
    assert found, f"no {name}"
    return found.group(2)


# ---------------------------------------------------------------- the marketplace


async def test_marketplace_shows_eligible_campaigns_and_why_not(zc_client, zc_runtime, zc_make_user, zc_make_product):
    variant = await zc_make_product("glow-lab", price=16_800)
    eligible = await campaign(zc_runtime, variant, title="Repair Cream", brief=f"Night routine. {XSS}", eligibility={"regions": ["CN"], "categories": ["skincare"]})
    too_small = await campaign(zc_runtime, variant, title="Big Voices Only", eligibility={"min_followers": 100_000, "regions": ["US"]})
    draft = await campaign(zc_runtime, variant, title="Secret Draft", status="draft")
    invite_only = await campaign(zc_runtime, variant, title="By Invitation", recruitment="invite")
    mia = await creator(zc_runtime, zc_make_user, "mia.skin")
    await login(zc_client, mia.email)

    page = await zc_client.get(f"{ME}/campaigns")
    assert page.status_code == 200
    card = part(page.text, f"campaign-{eligible}")
    assert "Repair Cream" in card and "Glow Lab" in card and 'data-testid="eligible"' in card and 'data-testid="apply-link"' in card
    assert "12% of each sale" in card and "¥300.00" in card and "14 days of receiving the sample" in card
    assert XSS not in page.text and "&lt;script&gt;" in card  # a brand's brief is text
    other = part(page.text, f"campaign-{too_small}")
    assert 'data-testid="ineligible"' in other and "needs at least 100000 followers" in other and "for creators in US" in other
    assert 'data-testid="apply-link"' not in other
    assert f"campaign-{draft}" not in page.text and f"campaign-{invite_only}" not in page.text
    assert 'aria-current="page" data-testid="creator-campaigns-tab"' in page.text

    # a draft, an invite-only campaign I am not in, or nothing at all: not found
    for hidden in (draft, invite_only, 999_999):
        assert (await zc_client.get(f"{ME}/campaigns/{hidden}")).status_code == 404
    detail = await zc_client.get(f"{ME}/campaigns/{too_small}")
    assert detail.status_code == 200 and 'data-testid="apply-form"' not in detail.text and "needs at least 100000 followers" in detail.text

    zc_client.cookies.set("zc_lang", "zh-CN")
    chinese = await zc_client.get(f"{ME}/campaigns")
    assert "招募中的合作" in chinese.text and "每笔销售的 12%" in chinese.text and "你符合条件" in chinese.text


async def test_apply_with_a_pitch_through_the_page(zc_client, zc_runtime, zc_make_user, zc_make_product):
    variant = await zc_make_product("glow-lab")
    campaign_id = await campaign(zc_runtime, variant, eligibility={"regions": ["CN"]})
    picky = await campaign(zc_runtime, variant, title="US only", eligibility={"regions": ["US"]})
    mia = await creator(zc_runtime, zc_make_user, "mia.skin")
    await login(zc_client, mia.email)
    page = await zc_client.get(f"{ME}/campaigns/{campaign_id}")
    assert page.status_code == 200 and 'data-testid="apply-form"' in page.text

    # a half-filled address: refused, what was typed is kept, nothing written
    bad = await post_form(zc_client, f"{ME}/campaigns/{campaign_id}/apply", {"message": "敏感肌，想试试", "name": "林小满", "city": "上海"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text and "phone: required" in bad.text and "敏感肌，想试试" in bad.text
    assert await count(zc_runtime, Collaboration) == 0
    # not eligible: the service's reason, nothing written
    refused = await post_form(zc_client, f"{ME}/campaigns/{picky}/apply", {"message": "hi"})
    assert refused.status_code == 422 and "for creators in US" in refused.text
    assert await count(zc_runtime, Collaboration) == 0

    pitch = f"敏感肌，想试试 {XSS}"
    sent = await post_form(zc_client, f"{ME}/campaigns/{campaign_id}/apply", {"message": pitch, **ADDRESS})
    assert sent.status_code == 303, sent.text
    assert re.match(rf"{ME}/collaborations/\d+\?notice=", sent.headers["location"])
    again = await post_form(zc_client, f"{ME}/campaigns/{campaign_id}/apply", {"message": pitch, **ADDRESS})  # a double click
    assert again.status_code == 303 and again.headers["location"] == sent.headers["location"]
    async with zc_runtime.db.read_session() as s:
        row = (await s.execute(select(Collaboration))).scalar_one()
    assert (row.status, row.message, row.shipping_address["city"]) == ("applied", pitch, "上海")

    mine = await zc_client.get(sent.headers["location"])
    assert mine.status_code == 200 and "Application sent" in mine.text
    assert XSS not in mine.text and "敏感肌，想试试 &lt;script&gt;" in mine.text  # my pitch is text
    assert part(mine.text, "collab-status") == "Applied" and 'data-testid="timeline"' in mine.text
    listing = await zc_client.get(f"{ME}/campaigns")
    assert 'data-testid="my-collaboration-link"' in part(listing.text, f"campaign-{campaign_id}")


async def test_accept_and_decline_invitations(zc_client, zc_runtime, zc_make_user, zc_make_product):
    variant = await zc_make_product("glow-lab")
    first = await campaign(zc_runtime, variant, title="Invite A", recruitment="invite", brief=XSS)
    second = await campaign(zc_runtime, variant, title="Invite B", recruitment="invite")
    mia = await creator(zc_runtime, zc_make_user, "mia.skin")
    a = await collaboration(zc_runtime, first, mia, "invited", message=f"We love your routine {XSS}")
    b = await collaboration(zc_runtime, second, mia, "invited")
    await login(zc_client, mia.email)

    page = await zc_client.get(f"{ME}/campaigns")
    invitations = part(page.text, "invitations")
    assert "Invite A" in invitations and "Invite B" in invitations and XSS not in page.text
    assert f'action="{ME}/collaborations/{a}/accept"' in invitations and f'action="{ME}/collaborations/{b}/decline"' in invitations
    assert (await zc_client.get(f"{ME}/campaigns/{first}")).status_code == 200  # invited: I may look at it

    bad = await post_form(zc_client, f"{ME}/collaborations/{a}/accept", {**ADDRESS, "country": "C1"})
    assert bad.status_code == 422 and "two-letter country code" in bad.text and 'value="C1"' in bad.text, re.findall(r'role="alert">[^<]*', bad.text)
    assert (await collab_row(zc_runtime, a)).status == "invited"
    accepted = await post_form(zc_client, f"{ME}/collaborations/{a}/accept", ADDRESS)
    assert accepted.status_code == 303 and accepted.headers["location"].startswith(f"{ME}/collaborations/{a}?notice=")
    row = await collab_row(zc_runtime, a)
    assert row.status == "accepted" and row.shipping_address["name"] == ADDRESS["name"]

    declined = await post_form(zc_client, f"{ME}/collaborations/{b}/decline", {"reason": "Booked this month"})
    assert declined.status_code == 303 and declined.headers["location"].startswith(f"{ME}/campaigns?notice=")
    assert (await collab_row(zc_runtime, b)).status == "declined"
    async with zc_runtime.db.read_session() as s:
        notes = list((await s.execute(select(CollaborationTransition.note).where(CollaborationTransition.collaboration_id == b))).scalars())
    assert notes == ["Booked this month"]
    page = await zc_client.get(f"{ME}/campaigns")
    assert 'data-testid="invitations"' not in page.text
    twice = await post_form(zc_client, f"{ME}/collaborations/{a}/decline", {"reason": "no"})  # accepted already
    assert twice.status_code == 409 and (await collab_row(zc_runtime, a)).status == "accepted"


# ---------------------------------------------------------------- my collaborations


async def test_submit_content_by_picking_one_of_my_notes(zc_client, zc_runtime, zc_make_user, zc_make_product):
    from plugins.notes.models import Note

    variant = await zc_make_product("glow-lab")
    campaign_id = await campaign(zc_runtime, variant)
    mia = await creator(zc_runtime, zc_make_user, "mia.skin")
    other = await creator(zc_runtime, zc_make_user, "leo.style")
    now = utcnow()
    cid = await collaboration(zc_runtime, campaign_id, mia, "sample_delivered", delivered_at=now - timedelta(days=12), deadline_at=now + timedelta(days=2))
    async with zc_runtime.db.session() as s:
        notes = [
            Note(author_user_id=mia.id, kind="image", title="我的晚间修护", body="", status="published", visibility="public", published_at=now, sponsored=True),
            Note(author_user_id=mia.id, kind="image", title="草稿", body="", status="draft", visibility="public"),
            Note(author_user_id=other.id, kind="image", title="别人的", body="", status="published", visibility="public", published_at=now),
        ]
        s.add_all(notes)
        await s.commit()
        mine, draft, theirs = (n.id for n in notes)
    await login(zc_client, mia.email)

    page = await zc_client.get(f"{ME}/collaborations/{cid}")
    assert page.status_code == 200
    assert 'data-testid="deadline-reminder"' in page.text and "Reminder: your content is due by" in page.text and "Due in 2 days" in page.text
    picker = part(page.text, "note-picker")
    assert f'name="ref" value="{mine}"' in picker and "我的晚间修护" in picker
    assert f'value="{draft}"' not in picker and f'value="{theirs}"' not in picker
    assert 'name="kind" value="note"' in page.text and 'data-testid="url-form"' in page.text
    listing = await zc_client.get(f"{ME}/collaborations")
    assert 'data-testid="deadline-near"' in part(listing.text, f"collaboration-{cid}")

    stolen = await post_form(zc_client, f"{ME}/collaborations/{cid}/content", {"kind": "note", "ref": str(theirs)})
    assert stolen.status_code == 422 and "that note is not yours" in stolen.text
    empty = await post_form(zc_client, f"{ME}/collaborations/{cid}/content", {"kind": "note"})
    assert empty.status_code == 422 and "choose one of your notes" in empty.text
    assert (await collab_row(zc_runtime, cid)).status == "sample_delivered"

    sent = await post_form(zc_client, f"{ME}/collaborations/{cid}/content", {"kind": "note", "ref": str(mine)})
    assert sent.status_code == 303, sent.text
    row = await collab_row(zc_runtime, cid)
    assert (row.status, row.content_kind, row.content_ref, row.on_time) == ("content_submitted", "note", str(mine), True)
    page = await zc_client.get(f"{ME}/collaborations/{cid}")
    assert part(page.text, "collab-status") == "Content submitted" and 'data-testid="note-picker"' not in page.text
    content = part(page.text, "content")  # the note by its title (the plugin's `resolve_content`), linked
    assert re.search(rf'<a href="[^"]*/notes/{mine}"[^>]*>我的晚间修护</a>', content) and f"note {mine}" not in content
    timeline = page.text.split('data-testid="timeline"')[1].split("</ol>")[0]  # the submission by its title, not the bare id
    assert '<small class="muted c-note">我的晚间修护</small>' in timeline, timeline


async def test_changes_requested_and_a_passed_deadline_show_on_the_page(zc_client, zc_runtime, zc_make_user, zc_make_product):
    variant = await zc_make_product("glow-lab")
    mia = await creator(zc_runtime, zc_make_user, "mia.skin")
    now = utcnow()
    changes = await collaboration(
        zc_runtime, await campaign(zc_runtime, variant), mia, "changes_requested", content_kind="url", content_ref="https://example.com/p/1",
        deadline_at=now + timedelta(days=9), review_comment=f"Please add the 广告 label {XSS}",
    )  # fmt: skip
    late = await collaboration(zc_runtime, await campaign(zc_runtime, variant, title="Late one"), mia, "overdue", deadline_at=now - timedelta(days=1))
    await login(zc_client, mia.email)
    page = await zc_client.get(f"{ME}/collaborations/{changes}")
    asked = part(page.text, "changes-requested")
    assert "Please add the 广告 label &lt;script&gt;" in asked and XSS not in page.text
    assert 'data-testid="deadline-reminder"' not in page.text  # nine days left: no reminder yet
    page = await zc_client.get(f"{ME}/collaborations/{late}")
    assert "The posting deadline passed" in part(page.text, "deadline-reminder")
    listing = await zc_client.get(f"{ME}/collaborations")
    assert 'data-testid="deadline-passed"' in part(listing.text, f"collaboration-{late}")
    assert "Please add the 广告 label" in part(listing.text, f"collaboration-{changes}")


@pytest.mark.parametrize("zc_settings", ["notes"], indirect=True)
async def test_without_the_notes_plugin_content_is_a_url(zc_client, zc_runtime, zc_make_user, zc_make_product):
    variant = await zc_make_product("glow-lab")
    mia = await creator(zc_runtime, zc_make_user, "mia.skin")
    cid = await collaboration(zc_runtime, await campaign(zc_runtime, variant), mia, "sample_delivered", deadline_at=utcnow() + timedelta(days=10))
    await login(zc_client, mia.email)
    page = await zc_client.get(f"{ME}/collaborations/{cid}")
    assert page.status_code == 200 and 'data-testid="note-picker"' not in page.text and 'data-testid="note-form"' not in page.text
    assert 'data-testid="url-form"' in page.text
    bad = await post_form(zc_client, f"{ME}/collaborations/{cid}/content", {"kind": "url", "ref": "javascript:alert(1)"})
    assert bad.status_code == 422 and "https://" in bad.text
    sent = await post_form(zc_client, f"{ME}/collaborations/{cid}/content", {"kind": "url", "ref": "https://www.xiaohongshu.com/explore/abc"})
    assert sent.status_code == 303, sent.text
    row = await collab_row(zc_runtime, cid)
    assert (row.status, row.content_kind, row.content_ref) == ("content_submitted", "url", "https://www.xiaohongshu.com/explore/abc")
    links = await zc_client.get(f"{ME}/links")  # the note option is gone from the link form too
    assert links.status_code == 200 and 'value="note:' not in links.text
    submitted = await collaboration(zc_runtime, await campaign(zc_runtime, variant, title="Note one"), mia, "content_submitted", content_kind="note", content_ref="7")
    page = await zc_client.get(f"{ME}/collaborations/{submitted}")  # a note submitted while the plugin was on: "note 7", no dead link
    assert page.status_code == 200 and part(page.text, "content").strip() == '<span data-testid="content-title">note 7</span>'


async def test_sample_arrives_and_approved_content_goes_live(zc_client, zc_runtime, zc_make_user, zc_make_product):
    variant = await zc_make_product("glow-lab")
    mia = await creator(zc_runtime, zc_make_user, "mia.skin")
    shipped = await collaboration(zc_runtime, await campaign(zc_runtime, variant), mia, "sample_shipped", shipped_at=utcnow())
    approved = await collaboration(
        zc_runtime, await campaign(zc_runtime, variant, title="Approved one"), mia, "approved", content_kind="url", content_ref="https://example.com/p/2",
    )  # fmt: skip
    await login(zc_client, mia.email)
    assert (await post_form(zc_client, f"{ME}/collaborations/{shipped}/delivered")).status_code == 303
    row = await collab_row(zc_runtime, shipped)
    assert row.status == "sample_delivered" and row.deadline_at - row.delivered_at == timedelta(days=14)
    assert (await post_form(zc_client, f"{ME}/collaborations/{approved}/publish")).status_code == 303
    row = await collab_row(zc_runtime, approved)
    assert row.status == "published" and row.protected_until is not None
    assert "Keep it up until" in (await zc_client.get(f"{ME}/collaborations/{approved}")).text


async def test_another_creators_collaboration_is_not_found(zc_client, zc_runtime, zc_make_user, zc_make_product):
    variant = await zc_make_product("glow-lab")
    campaign_id = await campaign(zc_runtime, variant, recruitment="invite")
    mia = await creator(zc_runtime, zc_make_user, "mia.skin")
    leo = await creator(zc_runtime, zc_make_user, "leo.style")
    theirs = await collaboration(zc_runtime, campaign_id, leo, "invited")
    live = await collaboration(zc_runtime, await campaign(zc_runtime, variant), leo, "published")
    async with zc_runtime.db.session() as s:
        s.add(DiscountCode(code="LEO15", collaboration_id=live, discount_ppm=150_000, active=True))
        await s.commit()
    await login(zc_client, mia.email)
    assert (await zc_client.get(f"{ME}/collaborations/{theirs}")).status_code == 404
    assert (await zc_client.get(f"{ME}/campaigns/{campaign_id}")).status_code == 404  # invite-only and I am not in it
    for action, body in (("accept", ADDRESS), ("decline", {}), ("content", {"kind": "url", "ref": "https://example.com"}), ("address", ADDRESS), ("withdraw", {})):
        assert (await post_form(zc_client, f"{ME}/collaborations/{theirs}/{action}", body)).status_code == 404, action
    assert (await post_form(zc_client, f"{ME}/links", {"collaboration_id": str(live), "target": "campaign"})).status_code == 404
    assert (await post_form(zc_client, f"{ME}/codes", {"collaboration_id": str(live), "code": "MIA15"})).status_code == 404
    assert (await post_form(zc_client, f"{ME}/codes/LEO15/active", {"active": "0"})).status_code == 404
    assert (await collab_row(zc_runtime, theirs)).status == "invited"
    assert await count(zc_runtime, TrackedLink) == 0 and await count(zc_runtime, DiscountCode) == 1
    links = await zc_client.get(f"{ME}/links")
    assert "LEO15" not in links.text
    # a brand member is no creator: these pages are not theirs
    owner = await zc_make_user(brand=("glow-lab", "owner"))
    zc_client.cookies.clear()
    await login(zc_client, owner.email)
    assert (await zc_client.get(f"{ME}/collaborations/{theirs}")).status_code in (403, 404)


async def test_forms_without_the_csrf_token_are_refused(zc_client, zc_runtime, zc_make_user, zc_make_product):
    variant = await zc_make_product("glow-lab")
    campaign_id = await campaign(zc_runtime, variant)
    mia = await creator(zc_runtime, zc_make_user, "mia.skin")
    invited = await collaboration(zc_runtime, await campaign(zc_runtime, variant, recruitment="invite"), mia, "invited")
    await login(zc_client, mia.email)
    assert (await post_form(zc_client, f"{ME}/campaigns/{campaign_id}/apply", {"message": "hi"}, token=False)).status_code == 403
    assert (await post_form(zc_client, f"{ME}/collaborations/{invited}/accept", ADDRESS, token=False)).status_code == 403
    assert (await post_form(zc_client, f"{ME}/profile", {"handle": "mia.new"}, token=False)).status_code == 403
    assert (await post_form(zc_client, f"{ME}/codes", {"collaboration_id": str(invited), "code": "MIA15"}, token=False)).status_code == 403
    assert await count(zc_runtime, Collaboration) == 1 and (await collab_row(zc_runtime, invited)).status == "invited"


# ---------------------------------------------------------------- links and codes


async def test_create_a_link_and_a_code_and_see_what_they_bring(zc_client, zc_runtime, zc_make_user, zc_make_product):
    from tests.core.attribution_helpers import buy, click
    from tests.core.attribution_helpers import settle as relay

    variant = await zc_make_product("glow-lab", price=10_000, stock=20)
    campaign_id = await campaign(zc_runtime, variant, rate_ppm=100_000)
    mia = await creator(zc_runtime, zc_make_user, "mia.skin")
    cid = await collaboration(zc_runtime, campaign_id, mia, "published")
    await login(zc_client, mia.email)
    page = await zc_client.get(f"{ME}/links")
    assert page.status_code == 200 and 'data-testid="new-link-form"' in page.text and 'data-testid="new-code-form"' in page.text
    assert f'value="product:{variant.product_id}"' in page.text

    wrong = await post_form(zc_client, f"{ME}/links", {"collaboration_id": str(cid), "target": "product:999999"})
    assert wrong.status_code == 422 and "one of the campaign" in wrong.text
    made = await post_form(zc_client, f"{ME}/links", {"collaboration_id": str(cid), "target": f"product:{variant.product_id}"})
    assert made.status_code == 303 and made.headers["location"].startswith(f"{ME}/links?notice=")
    again = await post_form(zc_client, f"{ME}/links", {"collaboration_id": str(cid), "target": f"product:{variant.product_id}"})  # a double click
    assert again.status_code == 303 and await count(zc_runtime, TrackedLink) == 1
    async with zc_runtime.db.read_session() as s:
        link = (await s.execute(select(TrackedLink))).scalar_one()
    assert (link.collaboration_id, link.target_kind, link.product_id) == (cid, "product", variant.product_id)

    bad = await post_form(zc_client, f"{ME}/codes", {"collaboration_id": str(cid), "code": "x!", "discount": "10"})
    assert bad.status_code == 422 and "4-32 characters" in bad.text and 'value="x!"' in bad.text
    too_much = await post_form(zc_client, f"{ME}/codes", {"collaboration_id": str(cid), "code": "MIA15", "discount": "150"})
    assert too_much.status_code == 422 and await count(zc_runtime, DiscountCode) == 0
    assert (await post_form(zc_client, f"{ME}/codes", {"collaboration_id": str(cid), "code": "mia15", "discount": "15"})).status_code == 303
    again = await post_form(zc_client, f"{ME}/codes", {"collaboration_id": str(cid), "code": "MIA15", "discount": "15"})  # a double click
    assert again.status_code == 303 and await count(zc_runtime, DiscountCode) == 1
    leo = await creator(zc_runtime, zc_make_user, "leo.style")
    leos = await collaboration(zc_runtime, campaign_id, leo, "published")
    async with zc_runtime.db.session() as s:
        s.add(DiscountCode(code="LEO15", collaboration_id=leos, discount_ppm=0, active=True))
        await s.commit()
    taken = await post_form(zc_client, f"{ME}/codes", {"collaboration_id": str(cid), "code": "LEO15"})
    assert taken.status_code == 409 and "is taken" in taken.text

    # a shopper clicks the link and buys; another uses the code
    visitor = str(uuid.uuid4())
    await click(zc_client, link.code, visitor)
    await buy(zc_client, [(variant.id, 2)], visitor=visitor, email="buyer1@example.com")
    await buy(zc_client, [(variant.id, 1)], code="MIA15", email="buyer2@example.com")
    await relay(zc_runtime)

    page = await zc_client.get(f"{ME}/links")
    row = part(page.text, f"link-{link.code}")
    assert f'/r/{link.code}"' in row  # the plain URL, visible and selectable
    assert 'class="btn btn-small btn-ghost c-copy-btn"' in row and "hidden" in row  # the copy button waits for JS
    script = await zc_client.get("/creator/static/creator.js")
    assert script.status_code == 200 and "navigator.clipboard" in script.text
    assert re.search(r'data-testid="clicks">1<', row) and re.search(r'data-testid="orders">1<', row) and "¥20.00" in row  # 10% of 2 x ¥100
    code_row = part(page.text, "code-MIA15")
    assert "15% off" in code_row and re.search(r'data-testid="orders">1<', code_row) and "¥8.50" in code_row  # 10% of ¥85

    off = await post_form(zc_client, f"{ME}/codes/MIA15/active", {"active": "0"})
    assert off.status_code == 303
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(DiscountCode.active).where(DiscountCode.code == "MIA15"))).scalar_one() is False
    assert "Switch on" in part((await zc_client.get(f"{ME}/links")).text, "code-MIA15")


async def test_a_creator_without_an_accepted_collaboration_has_no_link_forms(zc_client, zc_runtime, zc_make_user, zc_make_product):
    variant = await zc_make_product("glow-lab")
    mia = await creator(zc_runtime, zc_make_user, "mia.skin")
    applied = await collaboration(zc_runtime, await campaign(zc_runtime, variant), mia, "applied")
    await login(zc_client, mia.email)
    page = await zc_client.get(f"{ME}/links")
    assert page.status_code == 200 and 'data-testid="new-link-form"' not in page.text and "Find a campaign" in page.text
    refused = await post_form(zc_client, f"{ME}/links", {"collaboration_id": str(applied), "target": "campaign"})
    assert refused.status_code == 409 and "once it is accepted" in refused.text


# ---------------------------------------------------------------- profile


async def test_profile_and_payout_settings(zc_client, zc_runtime, zc_make_user):
    mia = await zc_make_user("mia@example.com", roles=("creator",))
    await login(zc_client, mia.email)
    page = await zc_client.get(f"{ME}/profile")
    assert page.status_code == 200 and 'data-testid="profile-form"' in page.text and 'data-testid="payout-form"' not in page.text

    form = {"handle": "mia.skin", "bio": f"Skincare diaries {XSS}", "categories": "Skincare, beauty", "region": "Shanghai!", "followers": "48000",
            "avg_engagement": "3000", "rate_currency": "CNY", "rate_image": "1200", "rate_video": ""}  # fmt: skip
    bad = await post_form(zc_client, f"{ME}/profile", form)
    assert bad.status_code == 422 and "ISO 3166" in bad.text and 'value="Shanghai!"' in bad.text and XSS not in bad.text
    assert await count(zc_runtime, CreatorProfile) == 0
    bad_rate = await post_form(zc_client, f"{ME}/profile", {**form, "region": "cn-sh", "rate_image": "12.345"})
    assert bad_rate.status_code == 422 and await count(zc_runtime, CreatorProfile) == 0

    saved = await post_form(zc_client, f"{ME}/profile", {**form, "region": "cn-sh"})
    assert saved.status_code == 303, saved.text
    async with zc_runtime.db.read_session() as s:
        profile = (await s.execute(select(CreatorProfile))).scalar_one()
    assert (profile.handle, profile.region, profile.categories, profile.followers, profile.rate_image_minor, profile.rate_video_minor) == (
        "mia.skin", "CN-SH", ["beauty", "skincare"], 48_000, 120_000, None)
    page = await zc_client.get(f"{ME}/profile")
    assert 'value="1200.00"' in page.text and "Skincare diaries &lt;script&gt;" in page.text and 'data-testid="payout-none"' in page.text

    bank = {"payout_method": "bank", "account_name": "林小满", "account_number": "6222 0210 0112 3456 789", "bank_name": "ICBC"}
    short = await post_form(zc_client, f"{ME}/profile/payout", {**bank, "account_number": "12"})
    assert short.status_code == 422 and "account_number" in short.text
    assert (await post_form(zc_client, f"{ME}/profile/payout", bank)).status_code == 303
    page = await zc_client.get(f"{ME}/profile")
    current = part(page.text, "payout-current")
    assert "•••• 6789" in current and "ICBC" in current and "Bank transfer" in current
    assert "0112 3456" not in page.text  # the full number is never shown back
    assert (await post_form(zc_client, f"{ME}/profile/payout", {"payout_method": "stripe", "stripe_account": "nope"})).status_code == 422
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(CreatorProfile.payout_method))).scalar_one() == "bank"


# ---------------------------------------------------------------- no N+1


async def test_collaborations_and_links_cost_the_same_for_one_and_for_eight(zc_client, zc_runtime, zc_make_user, zc_make_product):
    variant = await zc_make_product("glow-lab")
    mia = await creator(zc_runtime, zc_make_user, "mia.skin")
    await login(zc_client, mia.email)

    async def cost(path: str) -> int:
        await zc_client.get(path)  # warm
        await settle(zc_runtime)
        with QueryCounter() as q:
            page = await zc_client.get(path)
        assert page.status_code == 200 and q.max_connections == 1  # the notes picker's query waits for the page's connection
        return q.count

    async def one_more(n: int) -> None:
        cid = await collaboration(zc_runtime, await campaign(zc_runtime, variant, title=f"Campaign {n}"), mia, "published")
        async with zc_runtime.db.session() as s:
            s.add(TrackedLink(code=f"link{n:04d}", collaboration_id=cid, target_kind="product", product_id=variant.product_id))
            s.add(DiscountCode(code=f"MIA-{n:02d}", collaboration_id=cid, discount_ppm=100_000, active=True))
            await s.commit()

    await one_more(0)
    await collaboration(zc_runtime, await campaign(zc_runtime, variant, recruitment="invite"), mia, "invited")
    pages = (f"{ME}/collaborations", f"{ME}/links", f"{ME}/campaigns")
    first = [await cost(p) for p in pages]
    for n in range(1, 8):
        await one_more(n)
    listing = await zc_client.get(f"{ME}/collaborations")
    assert listing.text.count('data-testid="collaboration-') == 10  # rows + the list itself
    assert (await zc_client.get(f"{ME}/links")).text.count('data-testid="link-link') == 8
    assert [await cost(p) for p in pages] == first


async def test_every_string_has_a_chinese_translation(zc_runtime):
    """Each `_("...")` / `_n(...)` of the creator pages, their labels and notices, and the
    notes plugin's picker are in the zh-CN catalog the portal renders with."""
    from pathlib import Path

    from creator_portal import creator as pages
    from plugins.notes import portal

    used = set()
    for path in (Path(pages.__file__).parent / "templates" / "portal").glob("creator_*.html"):
        text = path.read_text()
        used |= set(re.findall(r'\b_\(\s*"([^"]+)"', text)) | set(re.findall(r"\b_\(\s*'([^']+)'", text))
        used |= {s for pair in re.findall(r"""_n\(\s*"([^"]+)",\s*"([^"]+)\"""", text) for s in pair}
    used |= {*pages.COLLAB_LABELS.values(), *pages.NEXT_STEP.values(), *pages.ACTOR_KINDS.values(), *pages.PAYOUT_LABELS.values(), *pages.PAYOUT_FIELDS.values()}
    source = Path(pages.__file__).read_text()
    used |= set(re.findall(r'(?<!")"([A-Z][^"\n]*[.!])"(?!")', source)) | {"choose one of your notes", "paste the address of your post"}  # notices and messages
    missing = sorted(s for s in used if s not in zc_runtime.translations["zh-CN"])
    assert not missing, missing
    assert set(portal.TRANSLATIONS["zh-CN"]) <= set(zc_runtime.translations["zh-CN"])


# ---------------------------------------------------------------- the pages' shared ending


async def test_a_change_commits_and_redirects_or_shows_the_page_again():
    """`creator_portal.changes.attempt`, the one ending every form of the campaign, creator
    and discovery pages shares: commit + 303 with the notice, or roll back and show the
    same page with the service's message and status; a NotFound stays the 404 page."""
    from pathlib import Path

    import creator_portal
    from core.errors import Conflict, NotFound
    from creator_portal.changes import attempt

    class Session:
        def __init__(self) -> None:
            self.done: list[str] = []

        async def commit(self) -> None:
            self.done.append("commit")

        async def rollback(self) -> None:
            self.done.append("rollback")

    async def page(**shown: Any) -> dict[str, Any]:
        return shown

    async def made() -> int:
        return 7

    async def refused() -> None:
        raise Conflict("this campaign is closed")

    async def missing() -> None:
        raise NotFound("no such handle")

    s = Session()
    out = await attempt(s, made, lambda n: f"/creator/me/collaborations/{n}?notice=x", page)
    assert (out.status_code, out.url, s.done) == (303, "/creator/me/collaborations/7?notice=x", ["commit"])
    s = Session()
    assert await attempt(s, refused, "/x", page) == {"error": "this campaign is closed", "status_code": 409} and s.done == ["rollback"]
    with pytest.raises(NotFound):
        await attempt(Session(), missing, "/x", page)
    assert await attempt(Session(), missing, "/x", page, not_found_refuses=True) == {"error": "no such handle", "status_code": 404}
    for name in ("campaigns.py", "creator.py", "discovery.py"):  # none ends a change by hand any more
        assert "session.rollback()" not in (Path(creator_portal.__file__).parent / name).read_text(), name
