"""Creator discovery for brand staff, over HTTP with CSRF: search with every filter, a
creator's page (stats, this brand's history only, fulfilment, the notes plugin's slot),
invitations, the shortlist (pages and JSON API). Another brand's staff get 404."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.auth.models import User
from core.auth.service import load_actor
from core.campaigns import campaigns as campaign_service
from core.campaigns import profiles
from core.campaigns.models import (
    Campaign,
    Collaboration,
    CreatorProfile,
    CreatorShortlist,
)
from core.catalog.models import Brand, BrandMember
from core.db import utcnow
from core.testing import QueryCounter, api_token, html_login, post_form, settle
from creator_portal import discovery

BASE = "/creator/brands/camellia/creators"


async def portal_login(client: Any, email: str) -> None:
    client.cookies.set("zc_lang", "en")
    await html_login(client, email, path="/creator/login")


async def make_creator(runtime: Any, make_user: Any, handle: str, *, followers: int = 1_000, avg_engagement: int = 50, categories: tuple[str, ...] = (),
                       region: str = "", rate_image: int | None = None, rate_video: int | None = None, bio: str = "", name: str | None = None) -> int:
    user = await make_user(f"{handle.replace('.', '-')}@example.com", roles=("creator",))
    async with runtime.db.session() as s:
        s.add(CreatorProfile(
            user_id=user.id, handle=handle, bio=bio, categories=sorted(categories), region=region, followers=followers, avg_engagement=avg_engagement,
            engagement_rate_ppm=profiles.engagement_rate_ppm(avg_engagement, followers), rate_currency="CNY", rate_image_minor=rate_image,
            rate_video_minor=rate_video, payout_details={},
        ))
        if name is not None:
            (await s.get(User, user.id)).display_name = name
        await s.commit()
    return user.id


async def draft_campaign(runtime: Any, user: Any, brand: str, title: str) -> int:
    async with runtime.db.session() as s:
        campaign = await campaign_service.create_campaign(s, runtime, await load_actor(s, user.id), brand, {"title": title})
        await s.commit()
        return campaign.id


async def collaboration(runtime: Any, campaign_id: int, user_id: int, status: str, **values: Any) -> None:
    async with runtime.db.session() as s:
        s.add(Collaboration(campaign_id=campaign_id, creator_user_id=user_id, status=status, origin="invited", message="", shipping_address={},
                            reminders_sent=0, review_comment="", **values))
        await s.commit()


async def count(runtime: Any, model: Any, *where: Any) -> int:
    async with runtime.db.read_session() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


def handles(html: str) -> list[str]:
    return re.findall(r'data-testid="creator-card" data-handle="([^"]+)"', html)


@pytest.fixture
async def three(zc_runtime, zc_make_user) -> dict[str, int]:
    make = lambda handle, **kw: make_creator(zc_runtime, zc_make_user, handle, **kw)
    return {
        "koc.tea": await make("koc.tea", followers=3_000, avg_engagement=400, categories=("tea",), region="CN-ZJ", rate_image=30_000),
        "micro.beauty": await make("micro.beauty", followers=60_000, avg_engagement=1_200, categories=("beauty",), region="CN-SH", rate_image=200_000, rate_video=350_000),
        "mid.outdoor": await make("mid.outdoor", followers=250_000, avg_engagement=20_000, categories=("beauty", "outdoor"), region="US-CA", rate_image=900_000),
    }


async def test_each_filter_narrows_the_results(zc_client, zc_make_user, three):
    owner = await zc_make_user(brand=("camellia", "owner"))
    await portal_login(zc_client, owner.email)

    async def found(query: str = "") -> list[str]:
        page = await zc_client.get(f"{BASE}?{query}")
        assert page.status_code == 200, page.text
        return handles(page.text)

    page = await zc_client.get(BASE)
    assert 'data-testid="creator-filters"' in page.text and 'aria-current="page" data-testid="brand-creators-tab"' in page.text
    assert "3 creators" in page.text and "60,000 followers" in page.text and "2.0% engagement" in page.text and "¥2,000.00" in page.text
    assert await found() == ["mid.outdoor", "micro.beauty", "koc.tea"]  # most followers first
    assert await found("tier=koc") == ["koc.tea"]
    assert await found("tier=koc&tier=mid") == ["mid.outdoor", "koc.tea"]
    assert await found("category=beauty") == ["mid.outdoor", "micro.beauty"]
    assert await found("followers_min=10000&followers_max=100%2C000") == ["micro.beauty"]
    assert await found("engagement_min=5") == ["mid.outdoor", "koc.tea"]  # 8% and 13.3%
    assert await found("region=CN") == ["micro.beauty", "koc.tea"]
    assert await found("region=cn-sh") == ["micro.beauty"]
    assert await found("rate_max=2500") == ["micro.beauty", "koc.tea"]  # ¥2,000 and ¥300 per image note
    assert await found("rate_max=2500&rate_currency=USD") == []  # their prices are in CNY
    assert await found("q=outdoor") == ["mid.outdoor"]
    assert await found("category=beauty&region=CN&q=&tier=") == ["micro.beauty"]  # empty fields are ignored
    assert await found("sort=engagement") == ["koc.tea", "mid.outdoor", "micro.beauty"]
    # the form keeps what was asked
    kept = await zc_client.get(f"{BASE}?tier=micro&category=beauty&engagement_min=1.5&rate_currency=USD")
    assert 'value="micro" checked' in kept.text and 'value="beauty"' in kept.text and 'value="1.5"' in kept.text and '<option value="USD" selected>' in kept.text
    # bad input: a friendly message and 422, never a server error
    for query, message in (("tier=superstar", "unknown tier"), ("followers_min=lots", "whole number"), ("followers_max=-5", "0 or more"),
                           ("engagement_min=abc", "engagement rate"), ("rate_max=cheap", "12.50"), ("region=Shanghai!", "ISO 3166"),
                           ("category=Beauty%20Care", "lowercase"), ("sort=price", "sort order"),
                           ("rate_max=10&rate_currency=GBP", "currency from the list")):
        bad = await zc_client.get(f"{BASE}?{query}")
        assert bad.status_code == 422 and 'data-testid="discovery-error"' in bad.text and message in bad.text, (query, bad.text[-2000:])
        assert handles(bad.text) == []


async def test_paging_and_no_n_plus_one(zc_client, zc_runtime, zc_make_user, monkeypatch):
    owner = await zc_make_user(brand=("camellia", "owner"))
    await portal_login(zc_client, owner.email)
    for i in range(2):
        await make_creator(zc_runtime, zc_make_user, f"first.{i}", followers=1_000 + i, categories=("tea",), rate_image=10_000)
    await zc_client.get(BASE)  # warm up

    async def statements() -> tuple[int, int]:
        await settle(zc_runtime)
        with QueryCounter() as q:
            page = await zc_client.get(BASE)
        assert page.status_code == 200
        return q.count, len(handles(page.text))

    few, shown = await statements()
    assert shown == 2
    for i in range(10):
        handle = f"more.{i}"
        await make_creator(zc_runtime, zc_make_user, handle, followers=5_000 + i, categories=("tea", "beauty"), rate_image=20_000, rate_video=40_000)
        if i % 2:
            await post_form(zc_client, f"{BASE}/{handle}/shortlist")
    many, shown = await statements()
    assert shown == 12 and many == few

    monkeypatch.setattr(discovery, "PER_PAGE", 5)
    first = await zc_client.get(f"{BASE}?category=tea")
    assert len(handles(first.text)) == 5 and "12 creators" in first.text
    next_url = re.search(r'href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
    assert "category=tea" in next_url and "page=2" in next_url
    second = await zc_client.get(BASE + next_url)
    assert len(handles(second.text)) == 5 and not set(handles(second.text)) & set(handles(first.text)) and 'rel="prev"' in second.text
    last = await zc_client.get(f"{BASE}?category=tea&page=3")
    assert len(handles(last.text)) == 2 and 'rel="next"' not in last.text


async def test_creator_page_stats_this_brands_history_only_fulfilment_and_notes(zc_client, zc_runtime, zc_make_user, three):
    from plugins.notes.models import NoteStatus, Visibility
    from tests.plugins.notes.engagement_helpers import make_note

    owner = await zc_make_user(brand=("camellia", "owner"))
    other = await zc_make_user(brand=("lotus-lane", "owner"))
    creator_id = three["micro.beauty"]
    ours = await draft_campaign(zc_runtime, owner, "camellia", "Camellia spring glow")
    theirs = await draft_campaign(zc_runtime, other, "lotus-lane", "Lotus secret launch")
    past = utcnow() - timedelta(days=3)
    await collaboration(zc_runtime, ours, creator_id, "published", deadline_at=past, published_at=past, on_time=True)
    await collaboration(zc_runtime, theirs, creator_id, "overdue", deadline_at=past)
    await make_note(zc_runtime, creator_id, title="My honest camellia review")
    await make_note(zc_runtime, creator_id, title="A private diary", visibility=Visibility.PRIVATE)
    await make_note(zc_runtime, creator_id, title="An unfinished draft", status=NoteStatus.DRAFT)

    await portal_login(zc_client, owner.email)
    page = await zc_client.get(f"{BASE}/micro.beauty")
    assert page.status_code == 200, page.text
    html = page.text
    assert re.search(r'data-testid="stat-followers">60,000<', html) and re.search(r'data-testid="stat-engagement">2.0%<', html)
    assert re.search(r'data-testid="stat-avg-engagement">1,200<', html) and "self-reported" in html
    assert re.search(r'data-testid="stat-fulfilment">50.0%<', html) and "1 of 2 collaborations published on time" in html
    assert re.search(r'data-testid="rate-image">¥2,000.00<', html) and re.search(r'data-testid="rate-video">¥3,500.00<', html)
    history = re.search(r'data-testid="creator-history".*?</section>', html, re.DOTALL).group(0)
    assert "Camellia spring glow" in history and "Published" in history and "on time" in history
    assert "Lotus secret launch" not in html and "lotus" not in html.lower()
    notes = re.search(r'data-testid="creator-notes".*?</section>', html, re.DOTALL).group(0)
    assert "My honest camellia review" in notes and 'href="/people/micro.beauty"' in notes
    assert "A private diary" not in html and "An unfinished draft" not in html
    # Chinese
    zc_client.cookies.set("zc_lang", "zh-CN")
    zh = await zc_client.get(f"{BASE}/micro.beauty")
    zc_client.cookies.set("zc_lang", "en")
    assert "履约率" in zh.text and "最近笔记" in zh.text and "与 Camellia 的合作" in zh.text
    assert (await zc_client.get(f"{BASE}/nobody.here")).status_code == 404


@pytest.mark.parametrize("zc_settings", ["notes"], indirect=True)
async def test_without_the_notes_plugin_the_notes_block_is_gone(zc_client, zc_make_user, three):
    owner = await zc_make_user(brand=("camellia", "owner"))
    await portal_login(zc_client, owner.email)
    page = await zc_client.get(f"{BASE}/koc.tea")
    assert page.status_code == 200
    assert 'data-testid="creator-stats"' in page.text and 'data-testid="creator-history"' in page.text
    assert 'data-testid="creator-notes"' not in page.text


async def test_invite_from_the_creator_page_and_from_the_shortlist(zc_client, zc_runtime, zc_make_user, three):
    owner = await zc_make_user(brand=("camellia", "owner"))
    campaign_id = await draft_campaign(zc_runtime, owner, "camellia", "Camellia spring glow")
    creator_id = three["koc.tea"]
    await portal_login(zc_client, owner.email)
    page = await zc_client.get(f"{BASE}/koc.tea")
    assert 'data-testid="invite-form"' in page.text and f'<option value="{campaign_id}"' in page.text and "Camellia spring glow · Draft" in page.text

    refused = await post_form(zc_client, f"{BASE}/koc.tea/invite", {"campaign_id": "", "message": "Hi"})
    assert refused.status_code == 422 and 'data-testid="invite-error"' in refused.text and "choose a campaign" in refused.text
    too_long = await post_form(zc_client, f"{BASE}/koc.tea/invite", {"campaign_id": str(campaign_id), "message": "x" * 2001})
    assert too_long.status_code == 422 and "x" * 2001 in too_long.text  # the message is kept for another try
    assert await count(zc_runtime, Collaboration) == 0

    for _ in range(2):  # a double click is one invitation
        sent = await post_form(zc_client, f"{BASE}/koc.tea/invite", {"campaign_id": str(campaign_id), "message": "We love your tea notes"})
        assert sent.status_code == 303 and sent.headers["location"].startswith(f"{BASE}/koc.tea?notice=Invitation+sent")
    async with zc_runtime.db.read_session() as s:
        collab = (await s.execute(select(Collaboration))).scalar_one()
    assert (collab.campaign_id, collab.creator_user_id, collab.status, collab.origin, collab.message) == (campaign_id, creator_id, "invited", "invited", "We love your tea notes")
    after = await zc_client.get(f"{BASE}/koc.tea?notice=Invitation+sent.")
    assert "Invitation sent." in after.text and re.search(r'data-testid="history-row">.*?Invited', after.text, re.DOTALL)

    # from the shortlist: back to the shortlist
    await post_form(zc_client, f"{BASE}/micro.beauty/shortlist", {"note": "great skin routine videos", "back": f"{BASE}/shortlist"})
    listed = await zc_client.get(f"{BASE}/shortlist")
    assert handles(listed.text) == ["micro.beauty"] and "great skin routine videos" in listed.text and 'data-testid="invite-form"' in listed.text
    sent = await post_form(zc_client, f"{BASE}/micro.beauty/invite", {"campaign_id": str(campaign_id), "back": f"{BASE}/shortlist"})
    assert sent.status_code == 303 and sent.headers["location"].startswith(f"{BASE}/shortlist?notice=")
    assert await count(zc_runtime, Collaboration, Collaboration.creator_user_id == three["micro.beauty"], Collaboration.status == "invited") == 1
    # a campaign that no longer takes creators: the service's message on the page it came from
    async with zc_runtime.db.session() as s:
        (await s.get(Campaign, campaign_id)).status = "completed"
        await s.commit()
    closed = await post_form(zc_client, f"{BASE}/mid.outdoor/invite", {"campaign_id": str(campaign_id), "back": f"{BASE}/shortlist"})
    assert closed.status_code == 409 and "takes no new creators" in closed.text and 'data-testid="shortlist-rows"' in closed.text
    # an outside address is never where a form goes back to
    away = await post_form(zc_client, f"{BASE}/koc.tea/shortlist", {"back": "https://evil.example/x"})
    assert away.headers["location"].startswith(f"{BASE}/koc.tea?")


async def test_shortlist_add_and_remove_are_idempotent_in_pages_and_api(zc_client, zc_runtime, zc_make_user, three):
    owner = await zc_make_user(brand=("camellia", "owner"))
    await portal_login(zc_client, owner.email)
    search = await zc_client.get(f"{BASE}?category=beauty")
    back = re.search(r'name="back" value="([^"]+)"', search.text).group(1).replace("&amp;", "&")
    assert back == f"{BASE}?category=beauty"
    for _ in range(2):
        added = await post_form(zc_client, f"{BASE}/micro.beauty/shortlist", {"back": back})
        assert added.status_code == 303 and added.headers["location"] == f"{BASE}?category=beauty&notice=Added+to+the+shortlist."
    assert await count(zc_runtime, CreatorShortlist) == 1
    search = await zc_client.get(f"{BASE}?category=beauty")
    card = re.search(r'data-handle="micro.beauty".*?</li>', search.text, re.DOTALL).group(0)
    assert 'data-testid="shortlist-remove"' in card and f'action="{BASE}/micro.beauty/shortlist/remove"' in card
    listed = await zc_client.get(f"{BASE}/shortlist")
    assert handles(listed.text) == ["micro.beauty"]
    for _ in range(2):
        removed = await post_form(zc_client, f"{BASE}/micro.beauty/shortlist/remove", {"back": f"{BASE}/shortlist"})
        assert removed.status_code == 303 and removed.headers["location"].startswith(f"{BASE}/shortlist?notice=Removed")
    assert await count(zc_runtime, CreatorShortlist) == 0
    assert 'data-testid="shortlist-empty"' in (await zc_client.get(f"{BASE}/shortlist")).text
    too_long = await post_form(zc_client, f"{BASE}/koc.tea/shortlist", {"note": "n" * 501})
    assert too_long.status_code == 422 and "up to 500 characters" in too_long.text
    assert await count(zc_runtime, CreatorShortlist) == 0

    # the JSON API
    api = "/api/v1/brands/camellia/shortlist"
    auth = await api_token(zc_client, owner.email)
    for note in ("first look", "second look"):
        r = await zc_client.put(f"{api}/koc.tea", json={"note": note}, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["creator"]["handle"] == "koc.tea" and r.json()["note"] == note
    assert (await zc_client.put(f"{api}/mid.outdoor", headers=auth)).status_code == 200  # no body: no note
    assert [x["creator"]["handle"] for x in (await zc_client.get(api, headers=auth)).json()] == ["mid.outdoor", "koc.tea"]
    assert (await zc_client.get(f"{api}/koc.tea", headers=auth)).json()["note"] == "second look"
    assert (await zc_client.put(f"{api}/koc.tea", json={"colour": "red"}, headers=auth)).status_code == 400
    assert (await zc_client.put(f"{api}/nobody.here", headers=auth)).status_code == 404
    for _ in range(2):
        assert (await zc_client.delete(f"{api}/koc.tea", headers=auth)).status_code == 204
    assert (await zc_client.get(f"{api}/koc.tea", headers=auth)).status_code == 404
    assert await count(zc_runtime, CreatorShortlist) == 1
    stranger = await api_token(zc_client, (await zc_make_user(brand=("lotus-lane", "owner"))).email)
    assert (await zc_client.get(api, headers=stranger)).status_code == 404
    assert (await zc_client.put(f"{api}/koc.tea", headers=stranger)).status_code == 404
    assert (await zc_client.delete(f"{api}/mid.outdoor", headers=stranger)).status_code == 404
    assert await count(zc_runtime, CreatorShortlist) == 1


async def test_another_brands_staff_get_404_and_cannot_invite_into_its_campaigns(zc_client, zc_runtime, zc_make_user, three):
    owner = await zc_make_user(brand=("camellia", "owner"))
    ours = await draft_campaign(zc_runtime, owner, "camellia", "Camellia spring glow")
    outsider = await zc_make_user(brand=("lotus-lane", "owner"))
    await portal_login(zc_client, outsider.email)
    for path in (BASE, f"{BASE}/koc.tea", f"{BASE}/shortlist"):
        assert (await zc_client.get(path)).status_code == 404, path
    for path in (f"{BASE}/koc.tea/shortlist", f"{BASE}/koc.tea/shortlist/remove", f"{BASE}/koc.tea/invite"):
        assert (await post_form(zc_client, path, {"campaign_id": str(ours)})).status_code == 404, path
    # from their own brand's page, with brand A's campaign id typed into the form
    own = "/creator/brands/lotus-lane/creators"
    assert (await zc_client.get(f"{own}/koc.tea")).status_code == 200
    assert (await post_form(zc_client, f"{own}/koc.tea/invite", {"campaign_id": str(ours)})).status_code == 404
    assert (await post_form(zc_client, f"{own}/koc.tea/invite", {"campaign_id": "999999"})).status_code == 404
    # a member of both brands cannot slip brand A's campaign into brand B's pages either
    async with zc_runtime.db.session() as s:
        camellia = (await s.execute(select(Brand).where(Brand.slug == "camellia"))).scalar_one()
        s.add(BrandMember(brand_id=camellia.id, user_id=outsider.id, role="staff"))
        await s.commit()
    assert (await post_form(zc_client, f"{own}/koc.tea/invite", {"campaign_id": str(ours)})).status_code == 404
    assert await count(zc_runtime, Collaboration) == 0 and await count(zc_runtime, CreatorShortlist) == 0


async def test_forms_need_the_csrf_token(zc_client, zc_runtime, zc_make_user, three):
    owner = await zc_make_user(brand=("camellia", "owner"))
    campaign_id = await draft_campaign(zc_runtime, owner, "camellia", "Camellia spring glow")
    await portal_login(zc_client, owner.email)
    for path, data in ((f"{BASE}/koc.tea/invite", {"campaign_id": str(campaign_id)}), (f"{BASE}/koc.tea/shortlist", {}), (f"{BASE}/koc.tea/shortlist/remove", {})):
        assert (await post_form(zc_client, path, data, token=False)).status_code == 403, path
    assert await count(zc_runtime, Collaboration) == 0 and await count(zc_runtime, CreatorShortlist) == 0


async def test_a_creators_name_and_bio_render_as_text(zc_client, zc_runtime, zc_make_user):
    owner = await zc_make_user(brand=("camellia", "owner"))
    await make_creator(zc_runtime, zc_make_user, "sneaky.one", name="<script>alert('name')</script>", bio="<img src=x onerror=alert('bio')>", categories=("beauty",))
    await portal_login(zc_client, owner.email)
    await post_form(zc_client, f"{BASE}/sneaky.one/shortlist", {"note": "<b>bold</b>"})
    for path in (BASE, f"{BASE}/sneaky.one", f"{BASE}/shortlist"):
        page = await zc_client.get(path)
        assert page.status_code == 200
        assert "<script>alert('name')" not in page.text and "<img src=x" not in page.text and "<b>bold</b>" not in page.text
        assert "&lt;script&gt;" in page.text
    assert "&lt;img src=x onerror=" in (await zc_client.get(f"{BASE}/sneaky.one")).text


def test_every_string_has_a_chinese_translation():
    """Each `_("...")` / `_n(...)` of the section's templates, its labels and the notes
    plugin's slot are in the portal's zh-CN catalog (its modules' catalogs merged; words
    the whole portal shares live in creator_portal/translations.py)."""
    from pathlib import Path

    from creator_portal.hooks import register_translations
    from plugins.notes import portal_discovery

    folder = Path(discovery.__file__).parent / "templates" / "portal"
    used = set()
    for path in folder.glob("creators*.html"):
        text = path.read_text()
        used |= set(re.findall(r"""\b_\(\s*["']([^"']+)["']""", text))
        used |= {s for pair in re.findall(r"""_n\(\s*"([^"]+)",\s*"([^"]+)\"""", text) for s in pair}
    used |= {label for _, label in discovery.SORTS} | set(discovery.COLLAB_LABELS.values()) | set(discovery.CAMPAIGN_LABELS.values())
    used |= {"Invitation sent.", "Added to the shortlist.", "Removed from the shortlist."}
    catalog = register_translations()["zh-CN"]
    missing = sorted(s for s in used if s not in catalog)
    assert not missing, missing
    assert set(portal_discovery.TRANSLATIONS["zh-CN"]) == {"Recent notes", "All notes", "No public notes yet."}
