"""A user's notices: written once per key, counted in the storefront's top bar, listed and
cleared on /account/notices and through /api/v1/me/notices, each user seeing only hers."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.errors import ValidationFailed
from core.i18n import translator
from core.notices import service
from core.notices.models import Notice
from core.testing import api_token, html_login

NOTICES = "/api/v1/me/notices"
MESSAGE = "{host} is live: {title}"  # the live plugin's, translated in its catalog


async def tell(runtime, user_ids, key="test:1", **values):
    async with runtime.db.session() as s:
        told = await service.notify(
            s, user_ids, kind=values.pop("kind", "test.said"), key=key, message=values.pop("message", MESSAGE),
            args=values.pop("args", {"host": "Mia", "title": "Friday live"}), url=values.pop("url", "/live/1"), **values,
        )
        await s.commit()
        return told


async def test_a_key_tells_each_user_once(zc_runtime, zc_make_user):
    ann, bo = await zc_make_user(), await zc_make_user()
    assert await tell(zc_runtime, [ann.id, bo.id, ann.id]) == 2
    assert await tell(zc_runtime, [ann.id, bo.id]) == 0, "a repeated event or a retried job tells nobody again"
    assert await tell(zc_runtime, [ann.id], key="test:2") == 1
    async with zc_runtime.db.read_session() as s:
        assert await service.unseen_count(s, ann.id) == 2 and await service.unseen_count(s, bo.id) == 1
        assert (await s.execute(select(func.count()).select_from(Notice))).scalar_one() == 3


async def test_many_followers_are_told_in_batches(zc_runtime, zc_make_user):
    users = [await zc_make_user() for _ in range(3)]
    ids = [u.id for u in users] * 400  # over one batch of rows, repeats included
    original = service.ROWS_PER_INSERT
    service.ROWS_PER_INSERT = 2
    try:
        assert await tell(zc_runtime, ids) == 3
    finally:
        service.ROWS_PER_INSERT = original


@pytest.mark.parametrize(
    ("field", "value"),
    [("url", "https://evil.example/phish"), ("url", "//evil.example"), ("message", ""), ("message", "x" * 201), ("key", ""), ("kind", "k" * 61)],
)
async def test_a_bad_notice_is_refused_and_nothing_is_written(zc_runtime, zc_make_user, field, value):
    ann = await zc_make_user()
    with pytest.raises(ValidationFailed) as refused:
        await tell(zc_runtime, [ann.id], **{field: value})
    assert field in refused.value.extra["fields"]
    async with zc_runtime.db.read_session() as s:
        assert await service.unseen_count(s, ann.id) == 0


async def test_the_text_is_in_the_readers_language(zc_runtime, zc_make_user):
    ann = await zc_make_user()
    await tell(zc_runtime, [ann.id])
    async with zc_runtime.db.read_session() as s:
        (notice,) = await service.notices_of(s, ann.id)
    assert service.notice_text(notice, translator(zc_runtime, "en")) == "Mia is live: Friday live"
    assert service.notice_text(notice, translator(zc_runtime, "zh-CN")) == "Mia 开播啦：Friday live"
    notice.args = {"title": "Friday live"}  # an older notice without a placeholder its translation names
    assert service.notice_text(notice, translator(zc_runtime, "zh-CN")) == " is live: Friday live"


async def test_api_lists_her_notices_and_clears_only_hers(zc_client, zc_runtime, zc_make_user):
    ann, bo = await zc_make_user("ann@example.com"), await zc_make_user("bo@example.com")
    await tell(zc_runtime, [ann.id, bo.id], key="test:1")
    await tell(zc_runtime, [ann.id], key="test:2", args={"host": "Lin", "title": "Sunday"})
    headers = await api_token(zc_client, ann.email)
    page = (await zc_client.get(NOTICES, headers=headers)).json()
    assert page["unseen_count"] == 2
    assert [n["text"] for n in page["items"]] == ["Lin 开播啦：Sunday", "Mia 开播啦：Friday live"], "newest first, in her account's language"
    assert page["items"][0]["args"] == {"host": "Lin", "title": "Sunday"} and page["items"][0]["url"] == "/live/1" and not page["items"][0]["seen"]
    bo_headers = await api_token(zc_client, bo.email)
    bos = (await zc_client.get(NOTICES, headers=bo_headers)).json()["items"]
    assert len(bos) == 1
    response = await zc_client.post(f"{NOTICES}/seen", json={"ids": [bos[0]["id"], page["items"][0]["id"]]}, headers=headers)
    assert response.status_code == 200 and response.json() == {"marked": 1}, "Bo's notice is not Ann's to clear"
    assert (await zc_client.get(NOTICES, headers=bo_headers)).json()["unseen_count"] == 1
    assert (await zc_client.post(f"{NOTICES}/seen", json={"ids": [page["items"][0]["id"]]}, headers=headers)).json() == {"marked": 0}, "safe to repeat"
    unseen = (await zc_client.get(NOTICES, params={"unseen_only": "true"}, headers=headers)).json()
    assert [n["text"] for n in unseen["items"]] == ["Mia 开播啦：Friday live"] and unseen["unseen_count"] == 1
    assert (await zc_client.post(f"{NOTICES}/seen", json={}, headers=headers)).json() == {"marked": 1}
    assert (await zc_client.get(NOTICES, headers=headers)).json()["unseen_count"] == 0


async def test_api_refuses_guests_and_bad_input(zc_client, zc_make_user):
    assert (await zc_client.get(NOTICES)).status_code == 401
    ann = await zc_make_user()
    headers = await api_token(zc_client, ann.email)
    for body in ({"ids": "all"}, {"ids": [1], "extra": True}):
        response = await zc_client.post(f"{NOTICES}/seen", json=body, headers=headers)
        assert response.status_code in (400, 422) and response.headers["content-type"].startswith("application/problem+json"), response.text
    assert (await zc_client.get(NOTICES, params={"limit": 0}, headers=headers)).status_code == 400


async def test_the_top_bar_counts_and_the_page_clears(zc_client, zc_runtime, zc_make_user):
    ann = await zc_make_user("ann@example.com")
    await html_login(zc_client, ann.email)
    home = await zc_client.get("/")
    assert 'data-testid="notices-link"' in home.text and 'data-testid="notice-count"' not in home.text
    await tell(zc_runtime, [ann.id], key="test:1")
    await tell(zc_runtime, [ann.id], key="test:2", args={"host": "Lin", "title": "Sunday"})
    home = await zc_client.get("/")
    assert 'data-testid="notice-count">2<' in home.text
    page = await zc_client.get("/account/notices")
    assert page.status_code == 200
    assert "Lin 开播啦：Sunday" in page.text and "Mia 开播啦：Friday live" in page.text
    assert page.text.index("Lin 开播啦") < page.text.index("Mia 开播啦") and page.text.count("is-unseen") == 2
    assert 'href="/live/1"' in page.text
    again = await zc_client.get("/account/notices")
    assert "is-unseen" not in again.text and 'data-testid="notice-count"' not in again.text, "seen once shown"


async def test_the_page_is_for_her_only(zc_client):
    response = await zc_client.get("/account/notices", follow_redirects=False)
    assert response.status_code in (302, 303) and "/login" in response.headers["location"]


async def test_the_page_is_paged(zc_client, zc_runtime, zc_make_user):
    ann = await zc_make_user()
    for n in range(21):
        await tell(zc_runtime, [ann.id], key=f"test:{n}", args={"host": f"Host {n}", "title": "t"})
    await html_login(zc_client, ann.email)
    first = (await zc_client.get("/account/notices")).text
    assert first.count('class="panel notice-row') == 20 and 'href="?page=2"' in first and "Host 20 " in first
    second = (await zc_client.get("/account/notices", params={"page": 2})).text
    assert second.count('class="panel notice-row') == 1 and "Host 0 " in second and 'href="?page=1"' in second and "?page=3" not in second
