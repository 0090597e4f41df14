"""The note page from the read model: what readers get is always current (counters,
author, content, prices, visibility), while the document is built once per version."""

from __future__ import annotations

from sqlalchemy import text, update

from core.catalog.models import VariantPrice
from core.testing import api_token
from tests.core.test_api_conventions import assert_problem
from tests.plugins.notes.notes_helpers import API, create_note


async def test_readers_get_live_counts_author_content_prices_and_visibility(zc_client, zc_runtime, zc_make_user, zc_make_product, monkeypatch):
    monkeypatch.setenv("ZHONGCAO_NOTES_LIVE_SECONDS", "0")  # the live row read for every request
    await zc_make_user("mia@example.com", roles=("creator",))
    await zc_make_user("jun@example.com")
    mia, jun = await api_token(zc_client, "mia@example.com"), await api_token(zc_client, "jun@example.com")
    cream = await zc_make_product("camellia", price=16800, title="修护面霜")
    note = await create_note(zc_client, mia, title="夜间修护", body="#护肤 好用", tags=[{"variant_id": cream.id}], publish=True)
    url = f"{API}/{note['id']}"
    models = zc_runtime.read_models

    first = (await zc_client.get(url)).json()
    hits = models.hits
    again = (await zc_client.get(url, headers=jun)).json()
    assert models.hits == hits + 1  # the second reader got the kept document
    assert again == first and first["moderation"] is None and first["protected_until"] is None

    # counters and the author are read live, the document stays
    assert (await zc_client.post(f"{url}/like", headers=jun)).status_code == 200
    assert (await zc_client.patch(f"{API}/me/profile", json={"handle": "mia.skin"}, headers=mia)).status_code == 200
    hits = models.hits
    r = (await zc_client.get(url)).json()
    assert (r["counts"]["likes"], r["author"]["handle"], models.hits) == (1, "mia.skin", hits + 1)

    # a content change is a new version: a new document at once
    assert (await zc_client.patch(url, json={"title": "夜间修护 2"}, headers=mia)).status_code == 200
    r = (await zc_client.get(url)).json()
    assert (r["title"], r["version"], r["counts"]["likes"]) == ("夜间修护 2", 2, 1)

    # a catalog change (the tagged product's price) drops the documents
    async with zc_runtime.db.session() as s:
        await s.execute(update(VariantPrice).where(VariantPrice.variant_id == cream.id).values(amount_minor=15800))
        await s.commit()
    assert (await zc_client.get(url)).json()["products"][0]["prices"] == {"CNY": 15800}

    # the author gets the full answer (moderation), never the readers' document
    own = (await zc_client.get(url, headers=mia)).json()
    assert own["moderation"] is not None and own["counts"]["likes"] == 1

    # private: 404 for readers at once, the author still reads it; deleted: 404 for all
    assert (await zc_client.patch(url, json={"visibility": "private"}, headers=mia)).status_code == 200
    assert_problem(await zc_client.get(url), 404)
    assert_problem(await zc_client.get(url, headers=jun), 404)
    assert (await zc_client.get(url, headers=mia)).json()["visibility"] == "private"
    assert (await zc_client.delete(url, headers=mia)).status_code == 204
    assert_problem(await zc_client.get(url, headers=mia), 404)
    assert_problem(await zc_client.get(f"{API}/999999999"), 404)


async def test_a_hot_notes_live_row_is_reused_for_live_seconds(zc_client, zc_runtime, zc_make_user, monkeypatch):
    from plugins.notes import views

    monkeypatch.setenv("ZHONGCAO_NOTES_LIVE_SECONDS", "5")
    await zc_make_user("mia@example.com", roles=("creator",))
    await zc_make_user("jun@example.com")
    mia, jun = await api_token(zc_client, "mia@example.com"), await api_token(zc_client, "jun@example.com")
    note = await create_note(zc_client, mia, title="夜间修护", publish=True)
    url = f"{API}/{note['id']}"
    assert (await zc_client.get(url)).json()["counts"]["likes"] == 0
    rows = views._live_rows[zc_runtime]
    hits = zc_runtime.read_models.hits
    assert (await zc_client.get(url)).json()["counts"]["likes"] == 0 and note["id"] in rows

    # a commit in this process drops the kept rows: read-your-writes here
    assert (await zc_client.post(f"{url}/like", headers=jun)).json()["like_count"] == 1
    assert not rows
    assert (await zc_client.get(url)).json()["counts"]["likes"] == 1

    # a change written by another process shows within live_seconds
    async with zc_runtime.db.session() as s:
        await s.execute(text("UPDATE notes_note SET like_count = 7 WHERE id = :id"), {"id": note["id"]})  # not seen by the watcher, like another process
        await s.commit()
    assert (await zc_client.get(url)).json()["counts"]["likes"] == 1  # kept
    assert (await zc_client.get(url, headers=mia)).json()["counts"]["likes"] == 7  # the author: never late
    rows[note["id"]] = (0.0, rows[note["id"]][1])  # 5 s later
    assert (await zc_client.get(url)).json()["counts"]["likes"] == 7
    assert zc_runtime.read_models.hits > hits
    assert (await zc_client.delete(url, headers=mia)).status_code == 204
    assert_problem(await zc_client.get(url), 404)
