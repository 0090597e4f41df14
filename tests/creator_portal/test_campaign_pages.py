"""Brand staff run a seeding campaign through the portal pages, over HTTP with CSRF: the
wizard (products, commission, samples), preview and publish, the collaboration board
(accept, ship, request changes, approve with the disclosure check), the timeline and the
report. Another brand's staff get 404 for every id; bad input keeps what was typed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from core import hookimpl
from core.auth.service import load_actor
from core.campaigns import campaigns as service
from core.campaigns import collaborations as collabs
from core.campaigns import profiles
from core.campaigns.collaborations import ContentInfo
from core.campaigns.models import Campaign, Collaboration
from core.inventory import service as inventory
from core.testing import ADDRESS, QueryCounter, post_form, settle
from tests.creator_portal.test_commerce_pages import portal_login

NOTES: dict[str, ContentInfo] = {}
XSS = "<script>alert('x')</script>"


class NotesStandIn:
    """Resolves the notes a test puts in NOTES, as the notes plugin would."""

    @hookimpl
    async def resolve_content(self, kind: str, ref: str, runtime: Any) -> ContentInfo | None:
        return NOTES.get(ref) if kind == "note" else None


@pytest.fixture
def zc_extra_plugins():
    NOTES.clear()
    yield [("notes_stand_in", NotesStandIn())]
    NOTES.clear()


def wizard(variant: Any, **overrides: Any) -> dict[str, Any]:
    pid = variant.product_id
    body = {
        "title": "修护霜种草 Repair Cream seeding", "brief": f"Show your night routine. {XSS}", "budget": "5000", "fixed_fee": "300",
        "attribution_days": "30", "posting_days": "14", "protection_days": "30", "notice_days": "2", "hold_days": "30", "attribution_model": "last",
        "review_required": "1", "recruitment": "open", "tiers": ["micro", "mid"], "categories": "Beauty, skincare", "min_followers": "", "regions": "CN",
        f"p{pid}": "1", f"p{pid}_variant": str(variant.id), f"p{pid}_samples": "3", f"p{pid}_kind": "percent", f"p{pid}_rate": "12", f"p{pid}_nb_rate": "15",
    }
    body.update(overrides)
    return body


async def as_creator(runtime: Any, make_user: Any, handle: str) -> Any:
    user = await make_user(f"{handle.replace('.', '-')}@example.com", roles=("creator",))
    async with runtime.db.session() as s:
        actor = await load_actor(s, user.id)
        await profiles.save_profile(s, runtime, actor, {"handle": handle, "categories": ["skincare"], "region": "CN-SH", "followers": 48_000, "avg_engagement": 3_000})
        await s.commit()
    return user


async def apply(runtime: Any, user: Any, campaign_id: int, pitch: str = "敏感肌，想试试") -> int:
    async with runtime.db.session() as s:
        collab = await collabs.apply(s, runtime, await load_actor(s, user.id), campaign_id, message=pitch, shipping_address=ADDRESS)
        await s.commit()
        return collab.id


async def submit(runtime: Any, user: Any, collaboration_id: int, kind: str, ref: str) -> None:
    async with runtime.db.session() as s:
        await collabs.submit_content(s, runtime, await load_actor(s, user.id), collaboration_id, kind=kind, ref=ref)
        await s.commit()


async def status_of(runtime: Any, collaboration_id: int) -> str:
    async with runtime.db.read_session() as s:
        return (await s.get(Collaboration, collaboration_id)).status


async def campaign_count(runtime: Any) -> int:
    async with runtime.db.read_session() as s:
        return (await s.execute(select(func.count()).select_from(Campaign))).scalar_one()


async def opened_by_service(runtime: Any, owner: Any, slug: str, variant: Any, samples: int = 10) -> int:
    async with runtime.db.session() as s:
        actor = await load_actor(s, owner.id)
        campaign = await service.create_campaign(s, runtime, actor, slug, {"title": "Spring seeding", "products": [
            {"product_id": variant.product_id, "sample_variant_id": variant.id, "sample_quantity": samples, "commission": {"kind": "percent", "rate_percent": "10"}},
        ]})
        await service.open_campaign(s, runtime, actor, campaign.id)
        await s.commit()
        return campaign.id


# ---------------------------------------------------------------- the journey


async def test_a_brand_runs_a_campaign_through_the_pages(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user(brand=("glow-lab", "owner"))
    variant = await zc_make_product("glow-lab", price=16800, stock=10, title="Repair Cream")
    await portal_login(zc_client, owner.email)
    base = "/creator/brands/glow-lab/campaigns"

    listing = await zc_client.get(base)
    assert listing.status_code == 200 and 'data-testid="new-campaign"' in listing.text and 'data-testid="no-campaigns"' in listing.text
    blank = await zc_client.get(f"{base}/new")
    assert blank.status_code == 200 and f'name="p{variant.product_id}"' in blank.text and "Repair Cream" in blank.text

    # bad input: a message, the typed values back, a 4xx, nothing written
    bad = await post_form(zc_client, f"{base}/new", wizard(variant, **{f"p{variant.product_id}_rate": "lots", "title": "Typed <b>title</b>"}))
    assert bad.status_code == 422 and 'role="alert"' in bad.text and "Repair Cream: " in bad.text
    assert 'value="Typed &lt;b&gt;title&lt;/b&gt;"' in bad.text and 'value="lots"' in bad.text and 'value="CN"' in bad.text
    bad_days = await post_form(zc_client, f"{base}/new", wizard(variant, posting_days="0"))
    assert bad_days.status_code == 422 and "posting deadline" in bad_days.text
    assert await campaign_count(zc_runtime) == 0

    # a draft with its product, samples and commission
    created = await post_form(zc_client, f"{base}/new", wizard(variant))
    assert created.status_code == 303, created.text
    page_url = created.headers["location"].split("?")[0]
    campaign_id = int(page_url.rsplit("/", 1)[1])
    async with zc_runtime.db.read_session() as s:
        draft = await s.get(Campaign, campaign_id)
        assert (draft.status, draft.budget_minor, draft.fixed_fee_minor, draft.review_required, draft.recruitment) == ("draft", 500_000, 30_000, True, "open")
        assert draft.eligibility == {"tiers": ["micro", "mid"], "categories": ["beauty", "skincare"], "regions": ["CN"]}
        [item] = await service.products_of(s, campaign_id)
        assert (item.product_id, item.sample_variant_id, item.sample_quantity, item.pool_id) == (variant.product_id, variant.id, 3, None)
        [rate] = await service.rate_versions(s, item.id)
        assert (rate.kind, rate.rate_ppm, rate.new_buyer_rate_ppm) == ("percent", 120_000, 150_000)

    # the preview shows the brief as text, the terms, and the publish button
    preview = await zc_client.get(page_url)
    assert preview.status_code == 200 and 'data-testid="campaign-preview"' in preview.text and 'data-testid="publish"' in preview.text
    assert XSS not in preview.text and "&lt;script&gt;" in preview.text
    assert "12% of each sale" in preview.text and "15% for new buyers" in preview.text and "¥300.00" in preview.text

    # the edit form comes back filled in; a draft edit changes the commission
    edit = await zc_client.get(f"{page_url}/edit")
    assert edit.status_code == 200 and 'value="5000.00"' in edit.text and 'value="12"' in edit.text
    saved = await post_form(zc_client, f"{page_url}/edit", wizard(variant, **{f"p{variant.product_id}_rate": "14", f"p{variant.product_id}_samples": "4"}))
    assert saved.status_code == 303, saved.text
    async with zc_runtime.db.read_session() as s:
        [item] = await service.products_of(s, campaign_id)
        assert item.sample_quantity == 4 and [v.rate_ppm for v in await service.rate_versions(s, item.id)] == [140_000]

    # publish: the samples are set aside in a stock pool
    opened = await post_form(zc_client, f"{page_url}/open")
    assert opened.status_code == 303, opened.text
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(Campaign, campaign_id)).status == "open"
        assert (await inventory.snapshot(s, variant.id)).pooled == 4
    listing = await zc_client.get(f"{base}?status=open")
    assert f'data-testid="campaign-{campaign_id}"' in listing.text and "4 samples left" in listing.text
    locked = await zc_client.get(f"{page_url}/edit")
    assert 'data-testid="locked-note"' in locked.text and 'name="title" value="修护霜种草 Repair Cream seeding" required maxlength="120" disabled' in locked.text

    # a creator applies (the service), the brand accepts on the board
    mia = await as_creator(zc_runtime, zc_make_user, "mia.skin")
    cid = await apply(zc_runtime, mia, campaign_id, pitch=f"I love it {XSS}")
    board_url = f"{page_url}/board"
    board = await zc_client.get(board_url)
    assert board.status_code == 200 and f'data-testid="collab-{cid}" data-status="applied"' in board.text
    assert XSS not in board.text and "I love it &lt;script&gt;" in board.text
    act = f"{page_url}/collaborations/{cid}"
    accepted = await post_form(zc_client, f"{act}/accept")
    assert accepted.status_code == 303 and accepted.headers["location"].endswith(f"#collab-{cid}")
    assert await status_of(zc_runtime, cid) == "accepted"

    # ship the sample: a missing tracking number is refused, the carrier kept
    no_tracking = await post_form(zc_client, f"{act}/ship", {"carrier": "顺丰 SF Express", "tracking_number": ""})
    assert no_tracking.status_code == 422 and "tracking number" in no_tracking.text and 'value="顺丰 SF Express"' in no_tracking.text
    assert await status_of(zc_runtime, cid) == "accepted"
    shipped = await post_form(zc_client, f"{act}/ship", {"carrier": "顺丰 SF Express", "tracking_number": "SF1234567890"})
    assert shipped.status_code == 303, shipped.text
    again = await post_form(zc_client, f"{act}/ship", {"carrier": "顺丰 SF Express", "tracking_number": "SF1234567890"})
    assert again.status_code == 303  # a double click ships once
    delivered = await post_form(zc_client, f"{act}/delivered", {"back": "detail"})
    assert delivered.status_code == 303 and delivered.headers["location"].startswith(act)
    assert await status_of(zc_runtime, cid) == "sample_delivered"

    # the creator submits a labelled note; the brand asks for changes, then approves
    NOTES["n-1001"] = ContentInfo(url="https://example.com/notes/n-1001", author_user_id=mia.id, title="我的晚间修护", sponsored_label=True)
    await submit(zc_runtime, mia, cid, "note", "n-1001")
    board = await zc_client.get(board_url)
    assert 'href="https://example.com/notes/n-1001"' in board.text and 'data-testid="disclosure-ok"' in board.text and 'data-testid="approve-form"' in board.text
    empty = await post_form(zc_client, f"{act}/changes", {"comment": "  "})
    assert empty.status_code == 422 and "say what should change" in empty.text
    changes = await post_form(zc_client, f"{act}/changes", {"comment": "Please show the texture"})
    assert changes.status_code == 303 and await status_of(zc_runtime, cid) == "changes_requested"
    await submit(zc_runtime, mia, cid, "note", "n-1001")
    approved = await post_form(zc_client, f"{act}/approve", {"comment": "很好"})
    assert approved.status_code == 303 and await status_of(zc_runtime, cid) == "approved"

    # the detail page: the timeline of every move
    detail = await zc_client.get(act)
    assert detail.status_code == 200
    timeline = detail.text.split('data-testid="timeline"')[1]
    for label in ("Applied", "Accepted", "Sample shipped", "Sample delivered", "Content submitted", "Changes requested", "Approved"):
        assert label in timeline
    assert "Please show the texture" in timeline and "SF1234567890" in timeline
    actors = set(re.findall(r'data-testid="actor">([^<]*)<', timeline))  # who, in words: not "creator" / "brand"
    assert {"Creator", "Brand"} <= actors <= {"Creator", "Brand", "Automatic"}, actors

    # the campaign's life: complete waits for running collaborations
    closed = await post_form(zc_client, f"{page_url}/close")
    assert closed.status_code == 303
    refused = await post_form(zc_client, f"{page_url}/complete")
    assert refused.status_code == 409 and "still under way" in refused.text
    reopened = await post_form(zc_client, f"{page_url}/reopen")
    assert reopened.status_code == 303
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(Campaign, campaign_id)).status == "open"

    # the report and its CSV
    report = await zc_client.get(f"{page_url}/report")
    assert report.status_code == 200 and "@mia.skin" in report.text and 'data-testid="report-totals"' in report.text
    csv = await zc_client.get(f"{page_url}/report/csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("creator,collaboration_id")
    assert "mia.skin" in csv.text and "300.00" in csv.text  # the fixed fee, posted on approval


async def test_an_external_url_needs_the_brands_disclosure_confirmation(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user(brand=("glow-lab", "owner"))
    variant = await zc_make_product("glow-lab", stock=5)
    campaign_id = await opened_by_service(zc_runtime, owner, "glow-lab", variant, samples=2)
    mia = await as_creator(zc_runtime, zc_make_user, "mia.skin")
    cid = await apply(zc_runtime, mia, campaign_id)
    await portal_login(zc_client, owner.email)
    act = f"/creator/brands/glow-lab/campaigns/{campaign_id}/collaborations/{cid}"
    for step, body in (("accept", {}), ("ship", {"carrier": "EMS", "tracking_number": "E1"}), ("delivered", {})):
        assert (await post_form(zc_client, f"{act}/{step}", body)).status_code == 303
    await submit(zc_runtime, mia, cid, "url", "https://weibo.example/p/42")
    page = await zc_client.get(act)
    assert 'data-testid="disclosure-confirm"' in page.text and 'name="disclosure_confirmed"' in page.text
    unconfirmed = await post_form(zc_client, f"{act}/approve", {"back": "detail"})
    assert unconfirmed.status_code == 422 and "sponsored" in unconfirmed.text and 'data-testid="timeline"' in unconfirmed.text
    assert await status_of(zc_runtime, cid) == "content_submitted"
    confirmed = await post_form(zc_client, f"{act}/approve", {"disclosure_confirmed": "1", "back": "detail"})
    assert confirmed.status_code == 303 and await status_of(zc_runtime, cid) == "approved"


async def test_a_submitted_note_shows_by_its_title_or_as_note_n(zc_client, zc_runtime, zc_make_user, zc_make_product):
    """The board card and the collaboration page name a note by its title, linked, as
    `resolve_content` tells; a note no plugin knows is "note {ref}", not its bare id."""
    from sqlalchemy import update

    owner = await zc_make_user(brand=("glow-lab", "owner"))
    variant = await zc_make_product("glow-lab", stock=5)
    campaign_id = await opened_by_service(zc_runtime, owner, "glow-lab", variant, samples=2)
    known, unknown = [await as_creator(zc_runtime, zc_make_user, h) for h in ("mia.skin", "leo.style")]
    NOTES["n-1001"] = ContentInfo(url="https://example.com/notes/n-1001", author_user_id=known.id, title=f"我的晚间修护 {XSS}", sponsored_label=True)
    cids = {}
    for user, ref in ((known, "n-1001"), (unknown, "n-404")):
        cids[ref] = await apply(zc_runtime, user, campaign_id)
        async with zc_runtime.db.session() as s:
            await s.execute(update(Collaboration).where(Collaboration.id == cids[ref]).values(status="content_submitted", content_kind="note", content_ref=ref))
            await s.commit()
    await portal_login(zc_client, owner.email)
    base = f"/creator/brands/glow-lab/campaigns/{campaign_id}"
    board = await zc_client.get(f"{base}/board")
    for page in (board.text, (await zc_client.get(f"{base}/collaborations/{cids['n-1001']}")).text):
        card = page.split(f'data-testid="collab-{cids["n-1001"]}"')[1].split("</article>")[0]
        assert '<a href="https://example.com/notes/n-1001"' in card and "我的晚间修护 &lt;script&gt;" in card and XSS not in page
    for page in (board.text, (await zc_client.get(f"{base}/collaborations/{cids['n-404']}")).text):
        card = page.split(f'data-testid="collab-{cids["n-404"]}"')[1].split("</article>")[0]
        assert '<span data-testid="content-title">note n-404</span>' in card and "Note not found" in card


# ---------------------------------------------------------------- who may see what


async def test_another_brands_staff_get_404_for_every_id(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner_a = await zc_make_user(brand=("glow-lab", "owner"))
    owner_b = await zc_make_user(brand=("tea-house", "owner"))
    variant_a = await zc_make_product("glow-lab", stock=5)
    variant_b = await zc_make_product("tea-house", stock=5)
    campaign_a = await opened_by_service(zc_runtime, owner_a, "glow-lab", variant_a, samples=2)
    campaign_b = await opened_by_service(zc_runtime, owner_b, "tea-house", variant_b, samples=2)
    mia = await as_creator(zc_runtime, zc_make_user, "mia.skin")
    cid_a = await apply(zc_runtime, mia, campaign_a)

    await portal_login(zc_client, owner_b.email)
    assert (await zc_client.get("/creator/brands/tea-house/campaigns")).status_code == 200
    for path in (
        "/creator/brands/glow-lab/campaigns",
        f"/creator/brands/glow-lab/campaigns/{campaign_a}",
        f"/creator/brands/tea-house/campaigns/{campaign_a}",
        f"/creator/brands/tea-house/campaigns/{campaign_a}/edit",
        f"/creator/brands/tea-house/campaigns/{campaign_a}/board",
        f"/creator/brands/tea-house/campaigns/{campaign_a}/report",
        f"/creator/brands/tea-house/campaigns/{campaign_a}/report/csv",
        f"/creator/brands/tea-house/campaigns/{campaign_a}/collaborations/{cid_a}",
        f"/creator/brands/tea-house/campaigns/{campaign_b}/collaborations/{cid_a}",
    ):
        assert (await zc_client.get(path)).status_code == 404, path
    for path, body in (
        (f"/creator/brands/tea-house/campaigns/{campaign_a}/close", {}),
        (f"/creator/brands/tea-house/campaigns/{campaign_a}/edit", {"title": "mine now", "budget": "1"}),
        (f"/creator/brands/glow-lab/campaigns/{campaign_a}/collaborations/{cid_a}/accept", {}),
        (f"/creator/brands/tea-house/campaigns/{campaign_b}/collaborations/{cid_a}/accept", {}),
        (f"/creator/brands/tea-house/campaigns/{campaign_b}/collaborations/{cid_a}/decline", {"reason": "no"}),
        (f"/creator/brands/tea-house/campaigns/{campaign_a}/invite", {"handle": "mia.skin"}),
    ):
        assert (await post_form(zc_client, path, body)).status_code == 404, path
    assert await status_of(zc_runtime, cid_a) == "applied"
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(Campaign, campaign_a)).status == "open"
    listing = await zc_client.get("/creator/brands/tea-house/campaigns")
    assert f'data-testid="campaign-{campaign_b}"' in listing.text and f'data-testid="campaign-{campaign_a}"' not in listing.text


async def test_forms_without_the_csrf_token_are_refused(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user(brand=("glow-lab", "owner"))
    variant = await zc_make_product("glow-lab", stock=5)
    campaign_id = await opened_by_service(zc_runtime, owner, "glow-lab", variant, samples=2)
    cid = await apply(zc_runtime, await as_creator(zc_runtime, zc_make_user, "mia.skin"), campaign_id)
    await portal_login(zc_client, owner.email)
    base = "/creator/brands/glow-lab/campaigns"
    before = await campaign_count(zc_runtime)
    assert (await post_form(zc_client, f"{base}/new", wizard(variant), token=False)).status_code == 403
    assert (await post_form(zc_client, f"{base}/{campaign_id}/collaborations/{cid}/accept", token=False)).status_code == 403
    assert (await post_form(zc_client, f"{base}/{campaign_id}/close", token=False)).status_code == 403
    assert await campaign_count(zc_runtime) == before and await status_of(zc_runtime, cid) == "applied"

    zc_client.cookies.set("zc_lang", "zh-CN")  # the pages speak Chinese too
    board = await zc_client.get(f"{base}/{campaign_id}/board")
    assert "合作看板" in board.text and "申请与邀请" in board.text and ">接受<" in board.text


async def test_the_board_costs_the_same_statements_for_one_and_for_eight_collaborations(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user(brand=("glow-lab", "owner"))
    variant = await zc_make_product("glow-lab", stock=20)
    campaign_id = await opened_by_service(zc_runtime, owner, "glow-lab", variant, samples=10)
    await portal_login(zc_client, owner.email)
    board_url = f"/creator/brands/glow-lab/campaigns/{campaign_id}/board"

    async def cost() -> int:
        await zc_client.get(board_url)  # warm
        await settle(zc_runtime)
        with QueryCounter() as q:
            page = await zc_client.get(board_url)
        assert page.status_code == 200
        return q.count

    first = await as_creator(zc_runtime, zc_make_user, "creator.0")
    cid = await apply(zc_runtime, first, campaign_id)
    assert (await post_form(zc_client, f"/creator/brands/glow-lab/campaigns/{campaign_id}/collaborations/{cid}/accept")).status_code == 303
    one = await cost()
    for n in range(1, 8):
        await apply(zc_runtime, await as_creator(zc_runtime, zc_make_user, f"creator.{n}"), campaign_id)
    page = await zc_client.get(board_url)
    assert page.text.count('class="collab-card') == 8
    assert await cost() == one


async def test_the_wizard_fields_fit_at_1280_and_390_pixels(zc_client, zc_make_user, zc_make_product):
    """The commission select was cut at 1280 px (five equal columns) and the sample
    variant at 390 px. Measured in Chromium (every select as wide as its longest choice,
    nothing past the viewport): these rules are what makes them fit; the browser
    journeys look at the page itself."""
    from pathlib import Path

    import creator_portal

    owner = await zc_make_user(brand=("glow-lab", "owner"))
    await zc_make_product("glow-lab", stock=5)
    await portal_login(zc_client, owner.email)
    page = await zc_client.get("/creator/brands/glow-lab/campaigns/new")
    assert page.status_code == 200 and '<link rel="stylesheet" href="/creator/static/campaigns.css">' in page.text
    assert re.search(r'<div class="terms">\s*<label>Commission\s*<select name="p\d+_kind"', page.text)  # the select the rule widens
    css = (Path(creator_portal.__file__).parent / "static" / "campaigns.css").read_text()
    rules = dict(re.findall(r"^([^{}/@\s][^{}\n]*)\{([^}]*)\}", css, re.MULTILINE))
    assert "grid-column:span 2" in rules[".terms label:first-child"]  # the kind: two of the terms' columns
    assert "min-width:0" in rules[".seed-row select"] and "width:100%" in rules[".seed-row select"]
    assert "min-width:0" in rules[".wizard-step"]  # a fieldset is as wide as its content otherwise
    assert "@media(max-width:560px){.seed-sample{grid-template-columns:1fr}}" in css  # the variant gets the row on a phone


async def test_a_new_campaign_runs_in_one_of_the_brands_price_currencies(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user(brand=("harbour-tea", "owner"))
    variant = await zc_make_product("harbour-tea", price=12800, currency="HKD", title="Oolong tin")
    await portal_login(zc_client, owner.email)
    base = "/creator/brands/harbour-tea/campaigns"

    page = await zc_client.get(f"{base}/new")
    assert 'data-testid="campaign-currency"' in page.text and '<strong aria-current="true">CNY</strong>' in page.text and 'href="?currency=HKD"' in page.text
    hkd = await zc_client.get(f"{base}/new?currency=hkd")
    assert '<strong aria-current="true">HKD</strong>' in hkd.text and '<input type="hidden" name="currency" value="HKD">' in hkd.text
    assert (await zc_client.get(f"{base}/new?currency=GBP")).text.count('<strong aria-current="true">CNY</strong>') == 1  # not offered: the default

    refused = await post_form(zc_client, f"{base}/new", wizard(variant, currency="GBP", budget="100"))
    assert refused.status_code == 422 and "currency from the list" in refused.text and await campaign_count(zc_runtime) == 0

    created = await post_form(zc_client, f"{base}/new", wizard(variant, currency="HKD", budget="1000.50", fixed_fee="80", **{
        f"p{variant.product_id}_kind": "flat", f"p{variant.product_id}_flat": "12.5", f"p{variant.product_id}_nb_flat": ""}))
    assert created.status_code == 303, created.text
    campaign_id = int(created.headers["location"].split("?")[0].rsplit("/", 1)[1])
    async with zc_runtime.db.read_session() as s:
        campaign = await s.get(Campaign, campaign_id)
        assert (campaign.currency, campaign.budget_minor, campaign.fixed_fee_minor) == ("HKD", 100_050, 8_000)
        [item] = await service.products_of(s, campaign_id)
        [rate] = await service.rate_versions(s, item.id)
        assert (rate.kind, rate.flat_minor) == ("flat", 1_250)
    edit = await zc_client.get(f"{base}/{campaign_id}/edit")
    assert edit.status_code == 200 and 'data-testid="campaign-currency"' not in edit.text and 'name="currency"' not in edit.text
    assert "Currency: HKD" in edit.text and "Budget (HKD)" in edit.text  # fixed once saved
