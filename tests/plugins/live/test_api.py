"""The live API over HTTP: a brand makes a room and a deal, its host runs it, a viewer
buys at the deal price and pays with the core checkout API; everyone else gets 404 for
what they may not run, and bad bodies get problem+json."""

from __future__ import annotations

from core.testing import ADDRESS, api_token
from tests.plugins.live.helpers import CARD, handled, set_times

API = "/api/v1/live"


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers["content-type"]
    return response.json()


async def test_a_room_and_a_deal_through_the_api(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user(brand=("live-api", "owner"))
    staff = await api_token(zc_client, owner.email)
    variant = await zc_make_product("live-api", price=12900, stock=10, title="Silk cushion")
    rival_owner = await zc_make_user(brand=("rival-live", "owner"))
    rival = await api_token(zc_client, rival_owner.email)
    rival_variant = await zc_make_product("rival-live", price=5000, stock=5)
    viewer_user = await zc_make_user()
    viewer = await api_token(zc_client, viewer_user.email)

    # a room: the stream key only for those who run it
    made = await zc_client.post(f"{API}/brands/live-api/rooms", json={"title": "双十二预热 12.12 warm-up", "scheduled_at": "2026-12-12T20:00:00+08:00"}, headers=staff)
    assert made.status_code == 201, made.text
    room = made.json()
    assert room["status"] == "scheduled" and room["ingest_key"] and room["playback_url"].endswith(".m3u8") and "brand" in room["my_role"]
    public = (await zc_client.get(f"{API}/rooms/{room['id']}")).json()
    assert public["ingest_key"] is None and public["title"] == "双十二预热 12.12 warm-up"
    problem(await zc_client.post(f"{API}/brands/live-api/rooms", json={"title": "x"}, headers=rival), 404)  # not her brand
    problem(await zc_client.post(f"{API}/brands/live-api/rooms", json={"title": ""}, headers=staff), 422)
    problem(await zc_client.post(f"{API}/brands/live-api/rooms", json={"title": "naive", "scheduled_at": "2026-12-12T20:00:00"}, headers=staff), 422)
    problem(await zc_client.post(f"{API}/brands/live-api/rooms", json={"title": 5}, headers=staff), 400)

    # running it: the rival and a viewer cannot; pins only of the room's brand
    problem(await zc_client.post(f"{API}/rooms/{room['id']}/live", headers=rival), 404)
    problem(await zc_client.post(f"{API}/rooms/{room['id']}/live", headers=viewer), 404)
    problem(await zc_client.post(f"{API}/rooms/{room['id']}/pins", json={"product_id": variant.product_id}, headers=staff), 409)  # not live yet
    live = await zc_client.post(f"{API}/rooms/{room['id']}/live", headers=staff)
    assert live.status_code == 200 and live.json()["status"] == "live"
    pinned = await zc_client.post(f"{API}/rooms/{room['id']}/pins", json={"product_id": variant.product_id}, headers=staff)
    assert pinned.json()["pinned"] == [variant.product_id]
    problem(await zc_client.post(f"{API}/rooms/{room['id']}/pins", json={"product_id": rival_variant.product_id}, headers=staff), 404)
    listed = (await zc_client.get(f"{API}/rooms?status=live")).json()
    assert [r["id"] for r in listed] == [room["id"]]
    problem(await zc_client.get(f"{API}/rooms?status=paused"), 422)

    # a deal: the brand's staff only, terms checked
    deal_body = {"variant_id": variant.id, "deal_price_minor": 8800, "quantity": 3, "per_customer_limit": 1, "countdown_seconds": 10, "duration_seconds": 60}
    problem(await zc_client.post(f"{API}/rooms/{room['id']}/deals", json=deal_body, headers=rival), 404)
    problem(await zc_client.post(f"{API}/rooms/{room['id']}/deals", json={**deal_body, "quantity": 11}, headers=staff), 422)  # more than in stock
    problem(await zc_client.post(f"{API}/rooms/{room['id']}/deals", json={**deal_body, "deal_price_minor": "8800"}, headers=staff), 400)
    made_deal = await zc_client.post(f"{API}/rooms/{room['id']}/deals", json=deal_body, headers=staff)
    assert made_deal.status_code == 201, made_deal.text
    deal = made_deal.json()
    assert (deal["state"], deal["left"], deal["regular_price_minor"]) == ("ready", 3, 12900)
    problem(await zc_client.post(f"{API}/deals/{deal['id']}/buy", json={"address": ADDRESS}, headers=viewer), 409)  # not started
    launched = await zc_client.post(f"{API}/deals/{deal['id']}/launch", headers=staff)
    assert launched.json()["state"] == "countdown"
    await set_times(zc_runtime, deal["id"], starts_in=-1, ends_in=60)

    # a viewer buys and pays; a guest cannot buy
    problem(await zc_client.post(f"{API}/deals/{deal['id']}/buy", json={"address": ADDRESS}), 401)
    bought = await zc_client.post(f"{API}/deals/{deal['id']}/buy", json={"address": ADDRESS}, headers=viewer)
    assert bought.status_code == 201, bought.text
    purchase = bought.json()
    assert purchase["total_minor"] == 8800
    again = await zc_client.post(f"{API}/deals/{deal['id']}/buy", json={"address": ADDRESS}, headers=viewer)  # a double click
    assert again.status_code == 200 and again.json()["checkout_token"] == purchase["checkout_token"]
    paid = await zc_client.post(purchase["pay_url"], json={"payment_method": CARD}, headers=viewer)
    assert paid.status_code == 200, paid.text
    await handled(zc_runtime, "order.paid")
    problem(await zc_client.post(f"{API}/deals/{deal['id']}/buy", json={"address": ADDRESS}, headers=viewer), 409)  # her limit is 1
    assert (await zc_client.get(f"{API}/rooms/{room['id']}")).json()["deals"][0]["left"] == 2

    # stopping the deal gives the 2 unsold units back; the replay has the chapters
    stopped = await zc_client.post(f"{API}/deals/{deal['id']}/stop", headers=staff)
    assert stopped.json()["state"] == "ended" and stopped.json()["left"] == 0
    ended = await zc_client.post(f"{API}/rooms/{room['id']}/end", headers=staff)
    assert ended.json()["status"] == "ended" and ended.json()["pinned"] == []
    replay = (await zc_client.get(f"{API}/rooms/{room['id']}/replay")).json()
    assert [c["product_id"] for c in replay["chapters"]] == [variant.product_id] and replay["chapters"][0]["end_ms"] is not None
    problem(await zc_client.get(f"{API}/rooms/999999"), 404)
