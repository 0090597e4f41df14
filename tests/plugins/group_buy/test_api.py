"""The group_buy JSON API over HTTP: offers for brand staff, teams for shoppers, and every
refusal as problem+json."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from core.db import utcnow
from core.testing import ADDRESS, api_token
from plugins.group_buy.api import initials, public_name
from plugins.group_buy.models import Team
from tests.plugins.group_buy.helpers import CARD, settle

API = "/api/v1/group-buy"


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["detail"] and body["type"].startswith("https://")
    return body


async def brand_with_product(client, make_user, make_product, slug: str = "api-team-brand", price: int = 9900):
    owner = await make_user(brand=(slug, "owner"))
    variant = await make_product(slug, price=price, stock=20)
    return await api_token(client, owner.email), variant


async def new_offer(client, headers, variant, slug: str = "api-team-brand", **fields) -> dict:
    body = {"variant_id": variant.id, "team_price_minor": 6900, "team_size": 2, **fields}
    response = await client.post(f"{API}/brands/{slug}/offers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def shopper(client, make_user):
    user = await make_user()
    return user, await api_token(client, user.email)


async def _paid_seat(client, runtime, path: str, headers) -> dict:
    """Take a seat (POST `path`), pay it with the sandbox card, let the events run."""
    seat = await client.post(path, json={"address": ADDRESS}, headers=headers)
    assert seat.status_code == 201, seat.text
    seat = seat.json()
    paid = await client.post(seat["pay_url"], json={"payment_method": CARD}, headers=headers)
    assert paid.status_code == 200, paid.text
    await settle(runtime)
    return seat


async def open_paid_team(client, runtime, offer_id: int, headers) -> dict:
    return await _paid_seat(client, runtime, f"{API}/offers/{offer_id}/teams", headers)


async def join_paid(client, runtime, team_id: int, headers) -> dict:
    return await _paid_seat(client, runtime, f"{API}/teams/{team_id}/join", headers)


# ---------------------------------------------------------------- offers


async def test_brand_staff_manage_their_offers_and_nobody_else_can(zc_client, zc_make_user, zc_make_product):
    staff, variant = await brand_with_product(zc_client, zc_make_user, zc_make_product)
    created = await new_offer(zc_client, staff, variant, time_limit_minutes=60, per_user_limit=2, total_limit=10, auto_complete=True)
    assert created["warnings"] == [] and created["live"] is True
    assert (created["solo_price_minor"], created["team_price_minor"], created["team_size"], created["currency"]) == (9900, 6900, 2, "CNY")
    assert created["limits"]["total_limit"] == 10 and created["limits"]["units_promised"] == 0 and created["limits"]["active"] is True
    assert created["brand"]["slug"] == "api-team-brand" and created["sku"] == variant.sku

    same = await new_offer(zc_client, staff, variant, team_price_minor=9900)  # not lower: accepted, with a warning
    assert same["warnings"] and "same as the solo price" in same["warnings"][0]

    listed = await zc_client.get(f"{API}/brands/api-team-brand/offers", headers=staff)
    assert listed.status_code == 200 and [o["id"] for o in listed.json()] == [same["id"], created["id"]]
    assert [o["id"] for o in (await zc_client.get(f"{API}/brands/api-team-brand/offers?limit=1&offset=1", headers=staff)).json()] == [created["id"]]

    public = await zc_client.get(f"{API}/offers/{created['id']}")  # anyone reads a live offer, without the brand's figures
    assert public.status_code == 200 and public.json()["limits"] is None and public.json()["auto_complete"] is True

    changed = await zc_client.patch(f"{API}/offers/{created['id']}", json={"team_price_minor": 5900, "team_size": 3}, headers=staff)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["team_price_minor"], changed.json()["team_size"], changed.json()["time_limit_minutes"]) == (5900, 3, 60)
    down = await zc_client.patch(f"{API}/offers/{created['id']}", json={"active": False}, headers=staff)
    assert down.status_code == 200 and down.json()["live"] is False and down.json()["limits"]["active"] is False
    problem(await zc_client.get(f"{API}/offers/{created['id']}"), 404)  # taken down: gone for shoppers
    assert (await zc_client.get(f"{API}/offers/{created['id']}", headers=staff)).json()["live"] is False  # not for its staff

    # another brand's staff: everything of this brand is 404, as if it did not exist
    stranger, _ = await brand_with_product(zc_client, zc_make_user, zc_make_product, slug="api-rival-brand")
    problem(await zc_client.get(f"{API}/brands/api-team-brand/offers", headers=stranger), 404)
    problem(await zc_client.patch(f"{API}/offers/{same['id']}", json={"active": False}, headers=stranger), 404)
    problem(await zc_client.get(f"{API}/offers/{created['id']}", headers=stranger), 404)
    problem(await zc_client.post(f"{API}/brands/api-team-brand/offers", json={"variant_id": variant.id, "team_price_minor": 100, "team_size": 2}, headers=stranger), 404)
    problem(await zc_client.post(f"{API}/brands/api-rival-brand/offers", json={"variant_id": variant.id, "team_price_minor": 100, "team_size": 2}, headers=stranger), 404)  # not its variant
    assert (await zc_client.get(f"{API}/offers/{same['id']}", headers=stranger)).json()["limits"] is None  # a live offer: public, as for anyone

    # unknown ids and nobody logged in
    problem(await zc_client.get(f"{API}/offers/999999999"), 404)
    problem(await zc_client.patch(f"{API}/offers/999999999", json={"active": False}, headers=staff), 404)
    problem(await zc_client.post(f"{API}/brands/api-team-brand/offers", json={"variant_id": variant.id, "team_price_minor": 100, "team_size": 2}), 401)
    problem(await zc_client.get(f"{API}/brands/api-team-brand/offers"), 401)
    problem(await zc_client.patch(f"{API}/offers/{same['id']}", json={"active": False}), 401)


async def test_offer_rules_answer_422_naming_the_field(zc_client, zc_make_user, zc_make_product):
    staff, variant = await brand_with_product(zc_client, zc_make_user, zc_make_product, price=5000)
    url = f"{API}/brands/api-team-brand/offers"

    async def refused(status: int, **fields) -> dict:
        return problem(await zc_client.post(url, json={"variant_id": variant.id, "team_price_minor": 4000, "team_size": 2, **fields}, headers=staff), status)

    assert (await refused(422, team_size=1))["fields"] == {"team_size": "invalid"}
    assert (await refused(422, team_size=51))["fields"] == {"team_size": "invalid"}
    higher = await refused(422, team_price_minor=5001)
    assert "lower than the solo price" in higher["detail"] and higher["solo_price_minor"] == 5000
    assert (await refused(422, team_price_minor=0))["fields"] == {"team_price_minor": "invalid"}
    assert (await refused(422, time_limit_minutes=1))["fields"] == {"time_limit_minutes": "invalid"}
    assert (await refused(422, per_user_limit=0))["fields"] == {"per_user_limit": "invalid"}
    assert (await refused(422, total_limit=1))["fields"] == {"total_limit": "invalid"}  # below one team
    assert (await refused(422, currency="USD"))["fields"] == {"currency": "invalid"}  # no USD price to compare with
    assert (await refused(422, ends_at="2020-01-01T00:00:00+00:00"))["fields"] == {"ends_at": "invalid"}
    assert (await refused(422, ends_at="2099-01-01T00:00:00"))["fields"] == {"ends_at": "invalid"}  # no time zone
    await refused(404, variant_id=999999999)
    await refused(404, pool_id=999999999)
    # bodies that do not decode: 400, like every body of the API
    await refused(400, team_size="3")
    await refused(400, team_price_minor=39.5)
    await refused(400, auto_complete="yes")
    await refused(400, solo=True)
    await refused(400, starts_at="tomorrow")
    for huge in ({"team_price_minor": 10**30}, {"team_size": 2**63}, {"variant_id": 10**30}, {"pool_id": 2**63}, {"total_limit": -(2**63)}):
        response = await zc_client.post(url, json={"variant_id": variant.id, "team_price_minor": 4000, "team_size": 2, **huge}, headers=staff)
        assert response.status_code in (400, 404, 422) and response.headers["content-type"].startswith("application/problem+json"), (huge, response.text)
    problem(await zc_client.post(url, content=b"{not json", headers={**staff, "content-type": "application/json"}), 400)
    problem(await zc_client.post(url, json={"team_size": 2}, headers=staff), 400)
    offer = await new_offer(zc_client, staff, variant, team_price_minor=4000)
    problem(await zc_client.patch(f"{API}/offers/{offer['id']}", json={"variant_id": variant.id}, headers=staff), 400)  # the variant never changes
    assert (problem(await zc_client.patch(f"{API}/offers/{offer['id']}", json={"team_size": 1}, headers=staff), 422))["fields"] == {"team_size": "invalid"}
    problem(await zc_client.patch(f"{API}/offers/{offer['id']}", json={"team_price_minor": 6000}, headers=staff), 422)
    listed = (await zc_client.get(f"{API}/brands/api-team-brand/offers", headers=staff)).json()
    assert [(o["team_price_minor"], o["team_size"]) for o in listed] == [(4000, 2)]  # nothing half-written


# ---------------------------------------------------------------- teams


async def test_a_team_opens_fills_and_shows_members_by_name_only(zc_client, zc_runtime, zc_make_user, zc_make_product):
    staff, variant = await brand_with_product(zc_client, zc_make_user, zc_make_product)
    offer = await new_offer(zc_client, staff, variant, team_size=3)
    leader, leader_h = await shopper(zc_client, zc_make_user)
    friend, friend_h = await shopper(zc_client, zc_make_user)
    third, third_h = await shopper(zc_client, zc_make_user)

    seat = await zc_client.post(f"{API}/offers/{offer['id']}/teams", json={"address": ADDRESS}, headers=leader_h)
    assert seat.status_code == 201, seat.text
    seat = seat.json()
    token = seat["checkout_token"]
    assert seat["pay_url"] == f"/api/v1/checkouts/{token}/pay" and seat["checkout_url"] == f"/api/v1/checkouts/{token}"
    assert seat["share_path"] == f"/group-buy/teams/{seat['team_id']}" and seat["team_url"] == f"{API}/teams/{seat['team_id']}"
    assert (seat["total_minor"], seat["currency"]) == (6900, "CNY")
    checkout = (await zc_client.get(seat["checkout_url"], headers=leader_h)).json()
    assert checkout["total_minor"] == 6900
    assert (await zc_client.get(f"{API}/offers/{offer['id']}/teams")).json() == []  # not joinable before the leader paid
    mine = (await zc_client.get(f"{API}/me/teams", headers=leader_h)).json()
    assert [(m["me"]["status"], m["me"]["is_leader"], m["me"]["checkout_token"]) for m in mine] == [("seated", True, token)]

    paid = await zc_client.post(seat["pay_url"], json={"payment_method": CARD}, headers=leader_h)
    assert paid.status_code == 200 and paid.json()["payment"]["status"] == "authorized", paid.text
    await settle(zc_runtime)
    teams = await zc_client.get(f"{API}/offers/{offer['id']}/teams")
    assert teams.status_code == 200
    [listed] = teams.json()
    assert (listed["id"], listed["seats_taken"], listed["size"], listed["seats_left"], listed["joinable"]) == (seat["team_id"], 1, 3, 2, True)
    assert listed["members"] == [{"display_name": leader.display_name, "initials": listed["members"][0]["initials"], "is_leader": True, "confirmed": True, "joined_at": listed["members"][0]["joined_at"]}]
    assert listed["members"][0]["initials"] == initials(leader.display_name) == leader.display_name[0].upper() + leader.display_name.split("-")[1][0].upper()
    assert leader.email not in teams.text and "@" not in teams.text
    assert [initials(n) for n in ("Mia Chen", "林小满", "leo", "jun-wang", "")] == ["MC", "林", "L", "JW", "?"]
    assert public_name("mia@example.com") == "mia" and public_name("  ") == "?"  # a name typed as an address shows its first part

    await join_paid(zc_client, zc_runtime, seat["team_id"], friend_h)
    await join_paid(zc_client, zc_runtime, seat["team_id"], third_h)
    team = await zc_client.get(f"{API}/teams/{seat['team_id']}")  # the share link: public
    assert team.status_code == 200
    body = team.json()
    assert (body["status"], body["closed_reason"], body["seats_taken"], body["confirmed"], body["joinable"]) == ("succeeded", "full", 3, 3, False)
    assert [m["display_name"] for m in body["members"]] == [leader.display_name, friend.display_name, third.display_name]
    assert all(m["confirmed"] for m in body["members"]) and "@" not in team.text
    mine = (await zc_client.get(f"{API}/me/teams", headers=friend_h)).json()
    assert [(m["team"]["id"], m["me"]["status"], m["me"]["is_leader"], m["me"]["checkout_token"]) for m in mine] == [(seat["team_id"], "paid", False, None)]
    order = (await zc_client.get("/api/v1/orders", headers=friend_h)).json()
    assert [(o["status"], o["total_minor"]) for o in order] == [("paid", 6900)]
    assert (await zc_client.get(f"{API}/offers/{offer['id']}/teams")).json() == []  # full: nothing to join


async def test_joining_is_refused_with_a_clear_reason(zc_client, zc_runtime, zc_make_user, zc_make_product):
    staff, variant = await brand_with_product(zc_client, zc_make_user, zc_make_product)
    offer = await new_offer(zc_client, staff, variant, team_size=2)
    _leader, leader_h = await shopper(zc_client, zc_make_user)
    _friend, friend_h = await shopper(zc_client, zc_make_user)
    _late, late_h = await shopper(zc_client, zc_make_user)
    seat = await open_paid_team(zc_client, zc_runtime, offer["id"], leader_h)
    join = f"{API}/teams/{seat['team_id']}/join"

    assert "your own team" in problem(await zc_client.post(join, json={"address": ADDRESS}, headers=leader_h), 409)["detail"]
    assert "at most 1 team" in problem(await zc_client.post(f"{API}/offers/{offer['id']}/teams", json={"address": ADDRESS}, headers=leader_h), 409)["detail"]
    problem(await zc_client.post(join, json={"address": ADDRESS}), 401)
    problem(await zc_client.post(f"{API}/offers/{offer['id']}/teams", json={"address": ADDRESS}), 401)
    problem(await zc_client.get(f"{API}/me/teams"), 401)
    problem(await zc_client.post(join, json={"address": {"name": "x"}}, headers=friend_h), 400)  # malformed address
    problem(await zc_client.post(join, json={}, headers=friend_h), 400)
    problem(await zc_client.post(f"{API}/teams/999999999/join", json={"address": ADDRESS}, headers=friend_h), 404)
    problem(await zc_client.get(f"{API}/teams/999999999"), 404)
    problem(await zc_client.post(f"{API}/offers/999999999/teams", json={"address": ADDRESS}, headers=friend_h), 404)
    problem(await zc_client.get(f"{API}/offers/999999999/teams"), 404)

    await join_paid(zc_client, zc_runtime, seat["team_id"], friend_h)
    assert "full" in problem(await zc_client.post(join, json={"address": ADDRESS}, headers=late_h), 409)["detail"]
    assert "in this team already" in problem(await zc_client.post(join, json={"address": ADDRESS}, headers=friend_h), 409)["detail"]

    # a team whose time ran out (its job not run yet), then the same team once it failed
    other = await new_offer(zc_client, staff, variant, team_size=3, per_user_limit=3)
    seat = await open_paid_team(zc_client, zc_runtime, other["id"], leader_h)
    async with zc_runtime.db.session() as s:
        await s.execute(update(Team).where(Team.id == seat["team_id"]).values(expires_at=utcnow() - timedelta(seconds=1)))
        await s.commit()
    join = f"{API}/teams/{seat['team_id']}/join"
    assert "time has run out" in problem(await zc_client.post(join, json={"address": ADDRESS}, headers=late_h), 409)["detail"]
    from plugins.group_buy import service

    assert await service.expire_team(zc_runtime, seat["team_id"]) == "failed"
    await settle(zc_runtime)
    assert "closed without filling" in problem(await zc_client.post(join, json={"address": ADDRESS}, headers=late_h), 409)["detail"]
    failed = (await zc_client.get(f"{API}/teams/{seat['team_id']}")).json()
    assert (failed["status"], failed["closed_reason"], failed["joinable"]) == ("failed", "expired", False)
    mine = (await zc_client.get(f"{API}/me/teams", headers=leader_h)).json()
    assert [(m["team"]["id"], m["me"]["status"]) for m in mine][0] == (seat["team_id"], "refunded")
    assert (await zc_client.get("/api/v1/orders", headers=late_h)).json() == []  # refused joiners have no order


async def test_the_per_user_limit_counts_seats_across_teams(zc_client, zc_runtime, zc_make_user, zc_make_product):
    staff, variant = await brand_with_product(zc_client, zc_make_user, zc_make_product)
    offer = await new_offer(zc_client, staff, variant, team_size=3, per_user_limit=2)
    _a, a_h = await shopper(zc_client, zc_make_user)
    _b, b_h = await shopper(zc_client, zc_make_user)
    first = await open_paid_team(zc_client, zc_runtime, offer["id"], a_h)
    second = await open_paid_team(zc_client, zc_runtime, offer["id"], b_h)
    await join_paid(zc_client, zc_runtime, second["team_id"], a_h)  # A holds 2 seats now
    refused = problem(await zc_client.post(f"{API}/offers/{offer['id']}/teams", json={"address": ADDRESS}, headers=a_h), 409)
    assert "at most 2 teams" in refused["detail"]
    _c, c_h = await shopper(zc_client, zc_make_user)
    third = await open_paid_team(zc_client, zc_runtime, offer["id"], c_h)
    problem(await zc_client.post(f"{API}/teams/{third['team_id']}/join", json={"address": ADDRESS}, headers=a_h), 409)
    assert {m["team"]["id"] for m in (await zc_client.get(f"{API}/me/teams", headers=a_h)).json()} == {first["team_id"], second["team_id"]}


async def test_openapi_lists_the_group_buy_routes(zc_client):
    schema = (await zc_client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    assert {
        f"{API}/brands/{{slug}}/offers", f"{API}/offers/{{offer_id}}", f"{API}/offers/{{offer_id}}/teams",
        f"{API}/teams/{{team_id}}", f"{API}/teams/{{team_id}}/join", f"{API}/me/teams",
    } <= set(paths)
    assert {"get", "post"} <= set(paths[f"{API}/brands/{{slug}}/offers"]) and {"get", "patch"} <= set(paths[f"{API}/offers/{{offer_id}}"])
    assert "requestBody" in paths[f"{API}/teams/{{team_id}}/join"]["post"]
    assert {"OfferOut", "TeamOut", "SeatOut", "MyTeamOut"} <= {name.rsplit(".", 1)[-1].rsplit("_", 1)[-1] for name in schema["components"]["schemas"]}
