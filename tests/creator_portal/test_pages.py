"""Creator portal pages over HTTP: login, dashboard per role, portal sign-up."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.auth.models import User, UserRole
from core.testing import TEST_PASSWORD


def csrf_from(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "the form must carry a CSRF token"
    return found.group(1)


def section(html: str, testid: str) -> str:
    found = re.search(rf'<section[^>]*data-testid="{testid}"[^>]*>(.*?)</section>', html, re.S)
    assert found, f"no {testid} section"
    return found.group(1)


async def portal_login(client, email: str, password: str = TEST_PASSWORD):
    page = await client.get("/creator/login", params={"next": "/creator"})
    assert page.status_code == 200 and 'data-testid="login-form"' in page.text
    assert 'name="next" value="/creator"' in page.text
    response = await client.post(
        "/creator/login", data={"email": email, "password": password, "next": "/creator", "_csrf_token": csrf_from(page.text)}, follow_redirects=False
    )
    return response


async def test_dashboard_needs_login(zc_client):
    response = await zc_client.get("/creator", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/creator/login?next=/creator"
    page = await zc_client.get("/creator/login", params={"next": "/creator"})
    assert 'class="surface-portal"' in page.text
    assert 'data-testid="test-mode-banner"' in page.text
    assert 'href="/creator/signup"' in page.text


async def test_brand_owner_sees_only_their_brands(zc_client, zc_make_user):
    owner = await zc_make_user("owner@example.com", brand=("river-tea", "owner"))
    await zc_make_user("other@example.com", brand=("lotus-lane", "owner"))
    response = await portal_login(zc_client, owner.email)
    assert response.status_code == 303 and response.headers["location"] == "/creator"

    dashboard = await zc_client.get("/creator", headers={"accept-language": "en"})
    assert dashboard.status_code == 200
    mine = section(dashboard.text, "my-brands")
    assert 'href="/brands/river-tea"' in mine and "River Tea" in mine
    assert "Lotus Lane" not in dashboard.text and "lotus-lane" not in dashboard.text
    assert 'data-testid="creator-card"' not in dashboard.text
    assert 'data-testid="portal-user"' in dashboard.text


async def test_creator_sees_creator_card(zc_client, zc_make_user):
    creator = await zc_make_user("kol@example.com", roles=("creator",))
    await zc_make_user("owner@example.com", brand=("river-tea", "owner"))
    assert (await portal_login(zc_client, creator.email)).status_code == 303
    dashboard = await zc_client.get("/creator")
    assert dashboard.status_code == 200
    assert 'data-testid="creator-card"' in dashboard.text
    assert 'data-testid="my-brands"' not in dashboard.text
    assert "River Tea" not in dashboard.text


async def test_plain_shopper_sees_neither_card(zc_client, zc_make_user):
    shopper = await zc_make_user()
    assert (await portal_login(zc_client, shopper.email)).status_code == 303
    switched = await zc_client.get("/creator/lang/en", params={"next": "/creator"}, follow_redirects=False)
    assert switched.headers["location"] == "/creator" and zc_client.cookies.get("zc_lang") == "en"
    dashboard = await zc_client.get("/creator")
    assert dashboard.status_code == 200 and '<html lang="en">' in dashboard.text
    assert 'data-testid="creator-card"' not in dashboard.text and 'data-testid="my-brands"' not in dashboard.text
    assert "Not a creator or brand member yet." in dashboard.text


async def test_portal_login_rejects_bad_password_and_missing_csrf(zc_client, zc_make_user):
    user = await zc_make_user()
    wrong = await portal_login(zc_client, user.email, "not the password")
    assert wrong.status_code == 401
    assert 'class="surface-portal"' in wrong.text and "wrong email or password" in wrong.text

    no_csrf = await zc_client.post("/creator/login", data={"email": user.email, "password": TEST_PASSWORD}, follow_redirects=False)
    assert no_csrf.status_code == 403
    assert 'data-testid="error-page"' in no_csrf.text and 'class="surface-portal"' in no_csrf.text
    assert (await zc_client.get("/creator", follow_redirects=False)).status_code in (302, 303)


async def test_portal_signup_creates_a_creator(zc_client, zc_runtime):
    page = await zc_client.get("/creator/signup")
    assert page.status_code == 200 and 'data-testid="signup-form"' in page.text
    assert 'name="creator"' not in page.text, "no need to ask: the portal signs up creators"
    response = await zc_client.post(
        "/creator/signup",
        data={"email": "New.Creator@Example.com", "display_name": "Mia", "password": TEST_PASSWORD, "_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/creator"
    async with zc_runtime.db.session() as session:
        user = (await session.execute(select(User).where(User.email == "new.creator@example.com"))).scalar_one()
        roles = set((await session.execute(select(UserRole.role).where(UserRole.user_id == user.id))).scalars())
    assert roles == {"creator"}
    dashboard = await zc_client.get("/creator")
    assert 'data-testid="creator-card"' in dashboard.text


async def test_portal_signup_errors_stay_on_the_portal(zc_client, zc_runtime):
    page = await zc_client.get("/creator/signup")
    response = await zc_client.post(
        "/creator/signup", data={"email": "kol@example.com", "display_name": "", "password": "short", "_csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 422
    assert 'class="surface-portal"' in response.text and 'value="kol@example.com"' in response.text
    assert "use at least 8 characters" in response.text
    async with zc_runtime.db.session() as session:
        assert (await session.execute(select(User))).first() is None


async def test_portal_logout_returns_to_portal_login(zc_client, zc_make_user):
    user = await zc_make_user(roles=("creator",))
    assert (await portal_login(zc_client, user.email)).status_code == 303
    dashboard = await zc_client.get("/creator")
    form = re.search(r'<form method="post" action="/creator/logout"[^>]*>(.*?)</form>', dashboard.text, re.S)
    assert form, "the portal bar offers a logout form"
    response = await zc_client.post("/creator/logout", data={"_csrf_token": csrf_from(form.group(1))}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/creator/login"
    assert (await zc_client.get("/creator", follow_redirects=False)).status_code in (302, 303)


async def test_portal_errors_use_the_portal_layout(zc_client):
    response = await zc_client.get("/creator/no-such-page")
    assert response.status_code == 404
    assert 'data-testid="error-page"' in response.text
    assert 'class="surface-portal"' in response.text
    assert 'href="/creator"' in response.text


async def test_session_is_shared_with_the_storefront(zc_client, zc_make_user):
    user = await zc_make_user("both@example.com", roles=("creator",))
    assert (await portal_login(zc_client, user.email)).status_code == 303
    account = await zc_client.get("/account")
    assert account.status_code == 200 and "both@example.com" in account.text
