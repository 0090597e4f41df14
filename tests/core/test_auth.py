"""Accounts, HTML sessions with CSRF, bearer tokens, guards and login throttling, over real HTTP."""

from __future__ import annotations

import re
import time

import jwt
import pytest
from sqlalchemy import select, update

from core.auth.models import User, UserRole
from core.auth.permissions import Actor, can_act_for_brand, require_brand_member
from core.catalog.models import BrandMember
from core.errors import NotAuthenticated, PermissionDenied
from core.events import OutboxEvent
from core.testing import TEST_PASSWORD, api_token, html_login

SIGNUP = "/api/v1/auth/signup"
TOKEN = "/api/v1/auth/token"
ME = "/api/v1/me"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    for key in ("title", "type", "detail"):
        assert isinstance(body[key], str) and body[key], body
    return body


async def api_signup(client, email: str, password: str = TEST_PASSWORD, **extra):
    return await client.post(SIGNUP, json={"email": email, "password": password, "display_name": "Ann", **extra})


async def db_user(runtime, email: str) -> User | None:
    async with runtime.db.session() as session:
        return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


def csrf_from(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "the form must carry a CSRF token"
    return found.group(1)


async def form_csrf(client, path: str = "/login") -> str:
    page = await client.get(path)
    assert page.status_code == 200
    return csrf_from(page.text)


def session_cookie_set(response) -> bool:
    return any(c.startswith("zc_session=") and not c.startswith("zc_session=null") for c in response.headers.get_list("set-cookie"))


# ---------------------------------------------------------------- accounts (API)


async def test_api_signup_returns_a_working_token(zc_client, zc_runtime):
    response = await api_signup(zc_client, "ann@example.com")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["access_token"] and body["expires_at"]
    me = await zc_client.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == "ann@example.com"
    assert me.json()["roles"] == ["shopper"]
    assert me.json()["brands"] == []


async def test_password_is_stored_as_argon2_hash_and_never_raw(zc_client, zc_runtime):
    password = "S3cret-raw-password!"
    assert (await api_signup(zc_client, "hash@example.com", password)).status_code == 201
    user = await db_user(zc_runtime, "hash@example.com")
    assert user is not None
    assert user.password_hash.startswith("$argon2")
    assert password not in user.password_hash
    async with zc_runtime.db.session() as session:
        payloads = [e.payload for e in (await session.execute(select(OutboxEvent))).scalars()]
    assert payloads, "sign-up records a user.signed_up event"
    assert all(password not in repr(p) for p in payloads)


async def test_token_endpoint_and_wrong_password(zc_client, zc_make_user):
    user = await zc_make_user("tok@example.com")
    ok = await zc_client.post(TOKEN, json={"email": "tok@example.com", "password": TEST_PASSWORD})
    assert ok.status_code == 200 and ok.json()["token_type"] == "Bearer"
    bad = await zc_client.post(TOKEN, json={"email": user.email, "password": "wrong password"})
    body = assert_problem(bad, 401)
    assert "access_token" not in body
    unknown = await zc_client.post(TOKEN, json={"email": "nobody@example.com", "password": TEST_PASSWORD})
    assert_problem(unknown, 401)
    assert unknown.json()["detail"] == bad.json()["detail"], "the answer must not reveal which emails exist"


async def test_me_shows_roles(zc_client, zc_make_user):
    creator = await api_signup(zc_client, "kol@example.com", creator=True)
    assert creator.status_code == 201
    me = await zc_client.get(ME, headers={"Authorization": f"Bearer {creator.json()['access_token']}"})
    assert me.json()["roles"] == ["creator", "shopper"]

    member = await zc_make_user("member@example.com", brand=("river-tea", "staff"))
    me = (await zc_client.get(ME, headers=await api_token(zc_client, member.email))).json()
    assert set(me["roles"]) == {"shopper", "brand_member"}
    assert [b["role"] for b in me["brands"]] == ["staff"]

    staff = await zc_make_user("ops@example.com", staff=True)
    me = (await zc_client.get(ME, headers=await api_token(zc_client, staff.email))).json()
    assert set(me["roles"]) == {"shopper", "staff"}


async def test_signup_cannot_choose_staff(zc_runtime):
    from core.auth.service import signup
    from core.errors import ValidationFailed

    async with zc_runtime.db.session() as session:
        with pytest.raises(ValidationFailed):
            await signup(session, zc_runtime, email="sneaky@example.com", password=TEST_PASSWORD, display_name="S", roles=("staff",))


async def test_duplicate_email_is_409_and_email_is_case_insensitive(zc_client, zc_runtime):
    first = await api_signup(zc_client, "Mixed.Case@Example.COM")
    assert first.status_code == 201
    assert (await db_user(zc_runtime, "mixed.case@example.com")) is not None

    again = await api_signup(zc_client, "  mixed.case@EXAMPLE.com ")
    body = assert_problem(again, 409)
    assert body["fields"] == {"email": "already registered"}

    for spelling in ("mixed.case@example.com", "MIXED.CASE@EXAMPLE.COM"):
        token = await zc_client.post(TOKEN, json={"email": spelling, "password": TEST_PASSWORD})
        assert token.status_code == 200, token.text
    async with zc_runtime.db.session() as session:
        assert len((await session.execute(select(User))).scalars().all()) == 1


SIGNUP_PROBLEMS = [
    ("not-an-email", TEST_PASSWORD, "Ann", {"email"}),
    ("ann@example.com", "short", "Ann", {"password"}),
    ("ann@example.com", "x" * 257, "Ann", {"password"}),
    ("ann@example.com", TEST_PASSWORD, "   ", {"display_name"}),
    ("a@b", "1234567", "", {"email", "password", "display_name"}),
    ("two@@example.com", TEST_PASSWORD, "Ann", {"email"}),
    ("spa ce@example.com", TEST_PASSWORD, "Ann", {"email"}),
    ("nul\x00@example.com", TEST_PASSWORD, "Ann", {"email"}),
    ("ann@example.com", TEST_PASSWORD, "An\x00n", {"display_name"}),
]


async def test_signup_validation_gives_field_errors(zc_client, zc_runtime):
    for email, password, display_name, fields in SIGNUP_PROBLEMS:
        response = await zc_client.post(SIGNUP, json={"email": email, "password": password, "display_name": display_name})
        if len(password) > 256:  # the schema's own limit answers first
            assert_problem(response, 400)
            continue
        body = assert_problem(response, 422)
        assert set(body["fields"]) == fields, (email, password, display_name)
    async with zc_runtime.db.session() as session:
        assert (await session.execute(select(User))).scalars().all() == []


# ---------------------------------------------------------------- HTML sessions + CSRF


async def test_html_login_sets_session_cookie(zc_client, zc_make_user):
    user = await zc_make_user("web@example.com")
    token = await form_csrf(zc_client)
    response = await zc_client.post(
        "/login", data={"email": "WEB@example.com", "password": TEST_PASSWORD, "_csrf_token": token, "next": "/account"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("zc_session="))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    account = await zc_client.get("/account")
    assert account.status_code == 200
    assert user.email in account.text


async def test_html_login_without_valid_csrf_is_rejected(zc_client, zc_make_user):
    user = await zc_make_user()
    valid = await form_csrf(zc_client)  # the browser has a CSRF cookie; the form field is missing or wrong
    for token in (None, "", "0" * len(valid), valid[:-4] + "abcd", "forged-token"):
        data = {"email": user.email, "password": TEST_PASSWORD, "next": "/account"}
        if token is not None:
            data["_csrf_token"] = token
        response = await zc_client.post("/login", data=data, follow_redirects=False)
        assert response.status_code == 403, token
        assert 'data-testid="error-page"' in response.text
        assert not session_cookie_set(response)
        assert "zc_session" not in zc_client.cookies
        account = await zc_client.get("/account", follow_redirects=False)
        assert account.status_code == 302 and account.headers["location"] == "/login?next=/account"
    # a token in the header instead of the form (what scripts do) passes the same check
    scripted = await zc_client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}, headers={"x-csrftoken": valid}, follow_redirects=False)
    assert scripted.status_code == 303


async def test_html_signup_without_csrf_creates_nothing(zc_client, zc_runtime):
    await zc_client.get("/signup")
    response = await zc_client.post(
        "/signup", data={"email": "nocsrf@example.com", "display_name": "N", "password": TEST_PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert not session_cookie_set(response)
    assert await db_user(zc_runtime, "nocsrf@example.com") is None


async def test_html_signup_with_csrf_logs_in(zc_client, zc_runtime):
    token = await form_csrf(zc_client, "/signup")
    response = await zc_client.post(
        "/signup",
        data={"email": "New@Example.com", "display_name": "Newbie", "password": TEST_PASSWORD, "locale": "en", "_csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert session_cookie_set(response)
    account = await zc_client.get("/account")
    assert account.status_code == 200
    assert "new@example.com" in account.text
    assert "Hello, Newbie" in account.text  # the chosen locale applies
    user = await db_user(zc_runtime, "new@example.com")
    assert user is not None and user.locale == "en"


async def test_html_wrong_password_shows_form_without_session(zc_client, zc_make_user):
    user = await zc_make_user()
    token = await form_csrf(zc_client)
    response = await zc_client.post("/login", data={"email": user.email, "password": "nope nope", "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 401
    assert 'data-testid="login-form"' in response.text
    assert "wrong email or password" in response.text
    assert f'value="{user.email}"' in response.text
    assert not session_cookie_set(response)


async def test_logout_needs_csrf_and_ends_the_session(zc_client, zc_make_user):
    user = await zc_make_user()
    await html_login(zc_client, user.email)
    account = await zc_client.get("/account")
    assert account.status_code == 200

    refused = await zc_client.post("/logout", follow_redirects=False)
    assert refused.status_code == 403
    assert (await zc_client.get("/account", follow_redirects=False)).status_code == 200, "still logged in"

    response = await zc_client.post("/logout", data={"_csrf_token": csrf_from(account.text)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    after = await zc_client.get("/account", follow_redirects=False)
    assert after.status_code == 302 and after.headers["location"] == "/login?next=/account"


OFF_SITE = ["//evil.com", "https://evil.com", "http://evil.com/account", "/\\evil.com", "\\\\evil.com", "/\t/evil.com", "/\n/evil.com", " //evil.com", "javascript:alert(1)"]


async def test_next_cannot_redirect_off_site(zc_client, zc_make_user):
    user = await zc_make_user()
    for target in OFF_SITE:
        page = await zc_client.get("/login", params={"next": target})
        assert 'name="next" value="/"' in page.text, target
        response = await zc_client.post(
            "/login", data={"email": user.email, "password": TEST_PASSWORD, "_csrf_token": csrf_from(page.text), "next": target}, follow_redirects=False
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/", target


async def test_next_keeps_same_site_paths(zc_client, zc_make_user):
    user = await zc_make_user()
    page = await zc_client.get("/login", params={"next": "/brands/river-tea?tab=notes"})
    assert 'name="next" value="/brands/river-tea?tab=notes"' in page.text
    response = await zc_client.post(
        "/login",
        data={"email": user.email, "password": TEST_PASSWORD, "_csrf_token": csrf_from(page.text), "next": "/brands/river-tea?tab=notes"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/brands/river-tea?tab=notes"


# ---------------------------------------------------------------- bearer tokens


async def test_api_ignores_session_cookies(zc_client, zc_make_user):
    user = await zc_make_user()
    await html_login(zc_client, user.email)
    assert (await zc_client.get("/account")).status_code == 200
    assert "zc_session" in zc_client.cookies
    assert_problem(await zc_client.get(ME), 401)
    # nor does a session cookie pass for a bearer token
    assert_problem(await zc_client.get(ME, headers={"Authorization": f"Bearer {zc_client.cookies['zc_session']}"}), 401)


def _claims(user_id: int, *, exp_offset: int = 3600, epoch: int = 0, iss: str = "zhongcao") -> dict:
    now = int(time.time())
    return {"sub": str(user_id), "iat": now - 60, "exp": now + exp_offset, "iss": iss, "extras": {"ep": epoch}}


async def test_bad_tokens_are_401(zc_client, zc_make_user, zc_runtime):
    user = await zc_make_user()
    secret = zc_runtime.token_secret
    control = jwt.encode(_claims(user.id), secret, algorithm="HS256")
    assert (await zc_client.get(ME, headers={"Authorization": f"Bearer {control}"})).status_code == 200, "hand-made tokens are valid"
    assert (await zc_client.get(ME, headers={"Authorization": f"bearer {control}"})).status_code == 200, "the scheme is case-insensitive"

    bad = {
        "garbage": "not-a-jwt",
        "expired": jwt.encode(_claims(user.id, exp_offset=-10), secret, algorithm="HS256"),
        "forged": jwt.encode(_claims(user.id), "some-other-secret-of-a-decent-length-0123456789", algorithm="HS256"),
        "other issuer": jwt.encode(_claims(user.id, iss="elsewhere"), secret, algorithm="HS256"),
        "alg none": jwt.encode(_claims(user.id), None, algorithm="none"),
        "stale epoch": jwt.encode(_claims(user.id, epoch=7), secret, algorithm="HS256"),
        "unknown user": jwt.encode(_claims(user.id + 1000), secret, algorithm="HS256"),
        "tampered": control[:-2] + ("AA" if not control.endswith("AA") else "BB"),
    }
    for label, token in bad.items():
        response = await zc_client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, label
        assert_problem(response, 401)
    for header in ("Bearer", "Bearer ", f"Basic {control}", control):
        assert_problem(await zc_client.get(ME, headers={"Authorization": header}), 401)


async def test_inactive_user_token_stops_working(zc_client, zc_make_user, zc_runtime):
    user = await zc_make_user()
    headers = await api_token(zc_client, user.email)
    async with zc_runtime.db.session() as session:
        await session.execute(update(User).where(User.id == user.id).values(is_active=False))
        await session.commit()
    assert_problem(await zc_client.get(ME, headers=headers), 401)
    assert_problem(await zc_client.post(TOKEN, json={"email": user.email, "password": TEST_PASSWORD}), 401)


async def test_logout_everywhere_revokes_tokens_and_sessions(zc_client, zc_make_user, zc_app):
    from litestar.testing import AsyncTestClient

    user = await zc_make_user()
    old_token = await api_token(zc_client, user.email)
    await html_login(zc_client, user.email)
    old_cookie = zc_client.cookies["zc_session"]
    assert (await zc_client.get("/account")).status_code == 200

    assert_problem(await zc_client.post("/api/v1/auth/logout-everywhere"), 401)
    response = await zc_client.post("/api/v1/auth/logout-everywhere", headers=old_token)
    assert response.status_code == 204

    assert_problem(await zc_client.get(ME, headers=old_token), 401)
    stale = await zc_client.get("/account", follow_redirects=False)
    assert stale.status_code == 302 and stale.headers["location"].startswith("/login")
    # a copy of the old cookie, replayed from elsewhere, is dead too
    async with AsyncTestClient(app=zc_app, base_url="http://testserver.local") as other:
        other.cookies.set("zc_session", old_cookie)
        assert (await other.get("/account", follow_redirects=False)).status_code == 302

    fresh = await api_token(zc_client, user.email)
    assert (await zc_client.get(ME, headers=fresh)).status_code == 200


# ---------------------------------------------------------------- guards and object-level permission


async def test_creating_brands_needs_staff(zc_client, zc_make_user):
    body = {"slug": "lotus-lane", "name": "Lotus Lane", "description": "Tea"}
    assert_problem(await zc_client.post("/api/v1/brands", json=body), 401)
    shopper = await zc_make_user()
    assert_problem(await zc_client.post("/api/v1/brands", json=body, headers=await api_token(zc_client, shopper.email)), 403)

    staff = await zc_make_user(staff=True)
    staff_headers = await api_token(zc_client, staff.email)
    created = await zc_client.post("/api/v1/brands", json={**body, "owner_id": shopper.id}, headers=staff_headers)
    assert created.status_code == 201, created.text
    assert created.json()["slug"] == "lotus-lane"
    assert (await zc_client.get("/api/v1/brands/lotus-lane")).json()["name"] == "Lotus Lane"
    me = (await zc_client.get(ME, headers=await api_token(zc_client, shopper.email))).json()
    assert "brand_member" in me["roles"] and me["brands"] == [{"brand_id": created.json()["id"], "role": "owner"}]

    assert_problem(await zc_client.post("/api/v1/brands", json=body, headers=staff_headers), 409)
    assert_problem(await zc_client.post("/api/v1/brands", json={**body, "slug": "Not A Slug"}, headers=staff_headers), 422)
    assert_problem(await zc_client.post("/api/v1/brands", json={**body, "slug": "ghost-owner", "owner_id": 999_999}, headers=staff_headers), 404)
    assert (await zc_client.get("/api/v1/brands/ghost-owner")).status_code == 404, "a failed create leaves no brand behind"


async def test_adding_brand_members_is_for_that_brands_owner(zc_client, zc_make_user, zc_runtime):
    owner_a = await zc_make_user("owner-a@example.com", brand=("brand-a", "owner"))
    staff_a = await zc_make_user("staff-a@example.com", brand=("brand-a", "staff"))
    owner_b = await zc_make_user("owner-b@example.com", brand=("brand-b", "owner"))
    creator = await zc_make_user("kol@example.com", roles=("creator",))
    newcomer = await zc_make_user("new@example.com")
    url = "/api/v1/brands/brand-a/members"
    body = {"user_id": newcomer.id, "role": "staff"}

    assert_problem(await zc_client.post(url, json=body), 401)
    for outsider in (staff_a, owner_b, creator):
        assert_problem(await zc_client.post(url, json=body, headers=await api_token(zc_client, outsider.email)), 403)
    async with zc_runtime.db.session() as session:
        assert (await session.execute(select(BrandMember).where(BrandMember.user_id == newcomer.id))).first() is None

    owner_headers = await api_token(zc_client, owner_a.email)
    added = await zc_client.post(url, json=body, headers=owner_headers)
    assert added.status_code == 201, added.text
    assert added.json()["user_id"] == newcomer.id and added.json()["role"] == "staff"
    me = (await zc_client.get(ME, headers=await api_token(zc_client, newcomer.email))).json()
    assert "brand_member" in me["roles"]

    # owner of A cannot touch brand B
    assert_problem(await zc_client.post("/api/v1/brands/brand-b/members", json=body, headers=owner_headers), 403)
    assert_problem(await zc_client.post("/api/v1/brands/no-such-brand/members", json=body, headers=owner_headers), 404)
    assert_problem(await zc_client.post(url, json={"user_id": 987_654, "role": "staff"}, headers=owner_headers), 404)
    assert_problem(await zc_client.post(url, json={"user_id": newcomer.id, "role": "emperor"}, headers=owner_headers), 422)
    assert_problem(await zc_client.post(url, json={"user_id": 2**63}, headers=owner_headers), 400)
    assert_problem(await zc_client.post(url, json={"user_id": -1}, headers=owner_headers), 400)


def _actor(roles=("shopper",), brand_roles=None) -> Actor:
    return Actor(user_id=1, email="a@example.com", display_name="A", locale="en", roles=frozenset(roles), brand_roles=brand_roles or {})


def test_can_act_for_brand():
    owner, staff = _actor(brand_roles={1: "owner"}), _actor(brand_roles={1: "staff", 2: "owner"})
    assert can_act_for_brand(owner, 1) and can_act_for_brand(owner, 1, "owner") and can_act_for_brand(owner, 1, "staff")
    assert can_act_for_brand(staff, 1) and can_act_for_brand(staff, 1, "staff")
    assert not can_act_for_brand(staff, 1, "owner")
    assert can_act_for_brand(staff, 2, "owner")
    assert not can_act_for_brand(owner, 2)
    assert not can_act_for_brand(None, 1)
    platform_staff = _actor(roles=("shopper", "staff"))
    assert not can_act_for_brand(platform_staff, 1), "platform staff do not act as a brand"


def test_require_brand_member():
    owner = _actor(brand_roles={1: "owner"})
    assert require_brand_member(owner, 1, "owner") is owner
    with pytest.raises(NotAuthenticated):
        require_brand_member(None, 1)
    with pytest.raises(PermissionDenied):
        require_brand_member(owner, 2)
    with pytest.raises(PermissionDenied):
        require_brand_member(_actor(brand_roles={1: "staff"}), 1, "owner")
    with pytest.raises(PermissionDenied):
        require_brand_member(_actor(roles=("shopper", "staff")), 1)


# ---------------------------------------------------------------- login rate limiting


async def test_login_throttled_per_email(zc_client, zc_make_user, zc_runtime):
    limit = zc_runtime.settings.login_attempts
    victim = await zc_make_user("victim@example.com")
    other = await zc_make_user("other@example.com")
    for _ in range(limit):
        assert_problem(await zc_client.post(TOKEN, json={"email": victim.email, "password": "guess guess"}), 401)
    blocked = await zc_client.post(TOKEN, json={"email": "VICTIM@example.com", "password": TEST_PASSWORD})
    assert_problem(blocked, 429)
    retry = int(blocked.headers["retry-after"])
    assert 0 < retry <= zc_runtime.settings.login_window_seconds
    assert blocked.json()["retry_after"] == retry
    # the same client may still log in as someone else
    assert (await zc_client.post(TOKEN, json={"email": other.email, "password": TEST_PASSWORD})).status_code == 200


async def test_login_throttled_per_client_address(zc_client, zc_make_user, zc_runtime):
    zc_runtime.settings.login_attempts = limit = 2  # this test's own settings; fewer slow hash checks
    user = await zc_make_user()
    for i in range(4 * limit):  # the per-address cap is four times the per-email one
        email = f"probe{i % 4}@example.com"
        assert_problem(await zc_client.post(TOKEN, json={"email": email, "password": "guess guess"}), 401)
    blocked = await zc_client.post(TOKEN, json={"email": user.email, "password": TEST_PASSWORD})
    assert_problem(blocked, 429)
    assert int(blocked.headers["retry-after"]) > 0


async def test_html_login_throttle_shows_friendly_page(zc_client, zc_make_user, zc_runtime):
    user = await zc_make_user()
    token = await form_csrf(zc_client)
    for _ in range(zc_runtime.settings.login_attempts):
        response = await zc_client.post("/login", data={"email": user.email, "password": "guess guess", "_csrf_token": token})
        assert response.status_code == 401
    response = await zc_client.post("/login", data={"email": user.email, "password": TEST_PASSWORD, "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-testid="login-form"' in response.text
    assert "too many failed logins" in response.text
    assert "Traceback" not in response.text
    assert not session_cookie_set(response)
    assert (await zc_client.get("/account", follow_redirects=False)).status_code == 302


async def test_user_roles_table_matches_me(zc_client, zc_runtime):
    """`creator` is a stored role; `shopper` and `brand_member` are derived and never stored."""
    response = await api_signup(zc_client, "rolecheck@example.com", creator=True)
    assert response.status_code == 201
    user = await db_user(zc_runtime, "rolecheck@example.com")
    async with zc_runtime.db.session() as session:
        stored = set((await session.execute(select(UserRole.role).where(UserRole.user_id == user.id))).scalars())
    assert stored == {"creator"}
