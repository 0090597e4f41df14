"""Account settings through the service and the JSON API: display name, language, password."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from core.auth import service
from core.auth.models import User
from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.events import OutboxEvent
from core.testing import TEST_PASSWORD, api_token, html_login

ME = "/api/v1/me"
UPDATE_ME = "/api/v1/auth/me"
PASSWORD = "/api/v1/auth/password"
TOKEN = "/api/v1/auth/token"
NEW_PASSWORD = "a-brand-new-passphrase"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


async def db_user(runtime, user_id: int) -> User:
    async with runtime.db.session() as session:
        return await session.get(User, user_id)


# ---------------------------------------------------------------- display name and language


async def test_patch_me_changes_name_and_language(zc_client, zc_make_user, zc_runtime):
    user = await zc_make_user("ann@example.com")
    headers = await api_token(zc_client, user.email)
    response = await zc_client.patch(UPDATE_ME, json={"display_name": "  Ann Lin  "}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == "Ann Lin" and response.json()["locale"] == "zh-CN"
    response = await zc_client.patch(UPDATE_ME, json={"locale": "en"}, headers=headers)
    assert response.json()["display_name"] == "Ann Lin" and response.json()["locale"] == "en", "a field left out stays as it is"
    me = (await zc_client.get(ME, headers=headers)).json()
    assert (me["display_name"], me["locale"], me["email"]) == ("Ann Lin", "en", "ann@example.com")
    assert (await zc_client.patch(UPDATE_ME, json={}, headers=headers)).json()["display_name"] == "Ann Lin"


async def test_patch_me_refuses_bad_input_with_problems(zc_client, zc_make_user, zc_runtime):
    user = await zc_make_user()
    headers = await api_token(zc_client, user.email)
    for body, field in (({"display_name": "   "}, "display_name"), ({"display_name": "A\x00n"}, "display_name"), ({"display_name": ""}, "display_name"), ({"locale": "fr"}, "locale")):
        problem = assert_problem(await zc_client.patch(UPDATE_ME, json=body, headers=headers), 422)
        assert set(problem["fields"]) == {field}, body
    for body in ({"display_name": "x" * 81}, {"email": "new@example.com"}, {"display_name": 7}):  # the schema answers first
        assert_problem(await zc_client.patch(UPDATE_ME, json=body, headers=headers), 400)
    stored = await db_user(zc_runtime, user.id)
    assert (stored.display_name, stored.locale, stored.email) == (user.display_name, "zh-CN", user.email)


async def test_signup_and_settings_share_the_name_rule():
    for name in ("", "   ", "x" * 81, "tab\there"):
        assert service.display_name_problem(name)
        with pytest.raises(ValidationFailed) as signup_error:
            service.validate_signup("ann@example.com", TEST_PASSWORD, name)
        assert signup_error.value.extra["fields"] == {"display_name": service.display_name_problem(name)}
    assert service.display_name_problem("种草 Mia ✿") is None


async def test_a_creators_new_name_reaches_creator_search(zc_make_user, zc_runtime):
    user = await zc_make_user(roles=("creator",))
    async with zc_runtime.db.session() as session:
        await service.update_account(session, user.id, display_name="Mia")
        await session.commit()
    async with zc_runtime.db.session() as session:
        events = (await session.execute(select(OutboxEvent).where(OutboxEvent.type == "creator.changed"))).scalars().all()
    assert any(user.id in e.payload["ids"] for e in events)


async def test_settings_need_a_login(zc_client):
    assert_problem(await zc_client.patch(UPDATE_ME, json={"display_name": "Ann"}), 401)
    assert_problem(await zc_client.post(PASSWORD, json={"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD}), 401)


# ---------------------------------------------------------------- password


async def test_change_password_swaps_passwords_and_revokes_everything_else(zc_client, zc_make_user, zc_runtime, zc_app):
    user = await zc_make_user()
    mine, elsewhere = await api_token(zc_client, user.email), await api_token(zc_client, user.email)
    async with AsyncTestClient(app=zc_app, base_url="http://testserver.local") as browser:
        await html_login(browser, user.email)
        assert (await browser.get("/account")).status_code == 200

        response = await zc_client.post(PASSWORD, json={"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD}, headers=mine)
        assert response.status_code == 200, response.text
        fresh = {"Authorization": f"Bearer {response.json()['access_token']}"}
        assert (await zc_client.get(ME, headers=fresh)).status_code == 200, "the caller carries on with the token returned"
        for old in (mine, elsewhere):
            assert_problem(await zc_client.get(ME, headers=old), 401)
        stale = await browser.get("/account", follow_redirects=False)
        assert stale.status_code == 302 and stale.headers["location"].startswith("/login")

    assert_problem(await zc_client.post(TOKEN, json={"email": user.email, "password": TEST_PASSWORD}), 401)
    assert (await zc_client.post(TOKEN, json={"email": user.email, "password": NEW_PASSWORD})).status_code == 200
    stored = await db_user(zc_runtime, user.id)
    assert stored.password_hash.startswith("$argon2") and NEW_PASSWORD not in stored.password_hash
    assert stored.auth_epoch == user.auth_epoch + 1


async def test_wrong_current_password_is_refused(zc_client, zc_make_user, zc_runtime):
    user = await zc_make_user()
    headers = await api_token(zc_client, user.email)
    problem = assert_problem(await zc_client.post(PASSWORD, json={"current_password": "not my password", "new_password": NEW_PASSWORD}, headers=headers), 403)
    assert problem["fields"] == {"current_password": "the current password is wrong"}
    problem = assert_problem(await zc_client.post(PASSWORD, json={"current_password": TEST_PASSWORD, "new_password": "short"}, headers=headers), 422)
    assert set(problem["fields"]) == {"new_password"}
    assert_problem(await zc_client.post(PASSWORD, json={"current_password": TEST_PASSWORD}, headers=headers), 400)
    assert (await zc_client.get(ME, headers=headers)).status_code == 200, "a refused change revokes nothing"
    stored = await db_user(zc_runtime, user.id)
    assert stored.auth_epoch == user.auth_epoch and stored.password_hash == user.password_hash


async def test_guessing_the_current_password_is_throttled_like_logins(zc_client, zc_make_user, zc_runtime):
    zc_runtime.settings.login_attempts = limit = 2  # this test's own settings; fewer slow hash checks
    user = await zc_make_user()
    headers = await api_token(zc_client, user.email)
    for _ in range(limit):
        assert_problem(await zc_client.post(PASSWORD, json={"current_password": "guess guess", "new_password": NEW_PASSWORD}, headers=headers), 403)
    blocked = await zc_client.post(PASSWORD, json={"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD}, headers=headers)
    assert_problem(blocked, 429)
    assert int(blocked.headers["retry-after"]) > 0
    assert_problem(await zc_client.post(TOKEN, json={"email": user.email, "password": TEST_PASSWORD}), 429)  # the same counter as logins


async def test_a_change_meanwhile_wins(zc_make_user, zc_runtime, monkeypatch):
    """Two changes at once: the one that verified against a hash no longer stored loses."""
    user = await zc_make_user()
    real_verify = service.verify_password

    async def verify_while_another_change_lands(stored_hash: str, password: str) -> bool:
        async with zc_runtime.db.session() as other:
            await other.execute(update(User).where(User.id == user.id).values(password_hash=await service.hash_password("changed elsewhere")))
            await other.commit()
        return await real_verify(stored_hash, password)

    monkeypatch.setattr(service, "verify_password", verify_while_another_change_lands)
    async with zc_runtime.db.session() as session:
        with pytest.raises(Conflict):
            await service.change_password(session, zc_runtime, user.id, current_password=TEST_PASSWORD, new_password=NEW_PASSWORD, client="test")
        await session.rollback()
    assert await real_verify((await db_user(zc_runtime, user.id)).password_hash, "changed elsewhere")


async def test_service_refuses_wrong_password_without_changes(zc_make_user, zc_runtime):
    user = await zc_make_user()
    async with zc_runtime.db.session() as session:
        with pytest.raises(PermissionDenied):
            await service.change_password(session, zc_runtime, user.id, current_password="nope nope", new_password=NEW_PASSWORD, client="test")
    assert (await db_user(zc_runtime, user.id)).password_hash == user.password_hash
