"""Storefront pages over HTTP: brands from the database, errors, account, language, sign-up form."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.auth.models import User, UserRole
from core.catalog.models import Brand
from core.testing import TEST_PASSWORD, html_login


async def add_brands(runtime, *brands: tuple[str, str, str]) -> None:
    async with runtime.db.session() as session:
        session.add_all(Brand(slug=slug, name=name, description=description) for slug, name, description in brands)
        await session.commit()


def csrf_from(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "the form must carry a CSRF token"
    return found.group(1)


async def test_home_lists_brands_from_the_database(zc_client, zc_runtime):
    empty = await zc_client.get("/", headers={"accept-language": "en"})
    assert empty.status_code == 200
    assert "No brands yet." in empty.text and 'data-testid="brand-list"' not in empty.text

    await add_brands(zc_runtime, ("river-tea", "River Tea", "Cold brew from Fujian"), ("lotus-lane", "Lotus Lane", "Silk scarves"))
    response = await zc_client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    listing = response.text.split('data-testid="brand-list"', 1)[1]
    assert 'href="/brands/river-tea"' in listing and "Cold brew from Fujian" in listing
    assert 'href="/brands/lotus-lane"' in listing
    assert listing.index("Lotus Lane") < listing.index("River Tea"), "brands are listed by name"


async def test_brand_page(zc_client, zc_runtime):
    await add_brands(zc_runtime, ("river-tea", "River Tea", "Cold brew <b>from</b> Fujian"))
    response = await zc_client.get("/brands/river-tea")
    assert response.status_code == 200
    assert "<h1>River Tea</h1>" in response.text
    assert "Cold brew &lt;b&gt;from&lt;/b&gt; Fujian" in response.text, "descriptions are escaped"


async def test_unknown_brand_is_a_friendly_404(zc_client):
    html = await zc_client.get("/brands/no-such-brand", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert html.status_code == 404
    assert html.headers["content-type"].startswith("text/html")
    assert 'data-testid="error-page"' in html.text
    assert "页面不存在" in html.text  # "Not found", in the default language
    assert 'data-testid="test-mode-banner"' in html.text
    assert "Traceback" not in html.text

    english = await zc_client.get("/brands/no-such-brand", headers={"accept": "text/html", "accept-language": "en"})
    assert "Not found" in english.text and "Back to home" in english.text

    problem = await zc_client.get("/brands/no-such-brand", headers={"accept": "application/json"})
    assert problem.status_code == 404
    assert problem.headers["content-type"].startswith("application/problem+json")
    assert problem.json()["status"] == 404 and problem.json()["type"].endswith("/not-found")

    unknown_page = await zc_client.get("/no/such/page")
    assert unknown_page.status_code == 404 and 'data-testid="error-page"' in unknown_page.text


async def test_account_needs_login(zc_client, zc_make_user):
    response = await zc_client.get("/account", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/login?next=/account"
    login_page = await zc_client.get(response.headers["location"])
    assert 'name="next" value="/account"' in login_page.text

    user = await zc_make_user("shopper@example.com", roles=("creator",))
    await html_login(zc_client, user.email)
    account = await zc_client.get("/account", headers={"accept-language": "en"})
    assert account.status_code == 200
    assert "shopper@example.com" in account.text
    assert 'data-testid="account-link"' in account.text and 'data-testid="login-link"' not in account.text
    assert '<a class="btn" href="/creator">' in account.text, "creators get a way into the portal"
    assert '<html lang="zh-CN">' in account.text, "the account's language beats the browser's"


async def test_language_from_header_and_cookie(zc_client):
    default = await zc_client.get("/login")
    assert '<html lang="zh-CN">' in default.text
    assert "登录" in default.text and "Log in" not in default.text

    english = await zc_client.get("/login", headers={"accept-language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in english.text
    assert "Log in" in english.text and "登录" not in english.text

    switched = await zc_client.get("/lang/en", params={"next": "/"}, follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/"
    assert zc_client.cookies.get("zc_lang") == "en"
    home = await zc_client.get("/", headers={"accept-language": "zh-CN"})
    assert '<html lang="en">' in home.text, "the chosen language beats the browser's"
    assert "Brands to discover" in home.text

    back = await zc_client.get("/lang/zh-CN", params={"next": "https://evil.com"}, follow_redirects=False)
    assert back.headers["location"] == "/"
    assert "发现好品牌" in (await zc_client.get("/")).text

    ignored = await zc_client.get("/lang/fr", params={"next": "/login"}, follow_redirects=False)
    assert ignored.headers["location"] == "/login"
    assert zc_client.cookies.get("zc_lang") == "zh-CN"


async def test_test_mode_banner_on_pages(zc_client, zc_runtime):
    assert zc_runtime.settings.payment_mode == "sandbox"
    for path in ("/", "/login", "/signup"):
        response = await zc_client.get(path, headers={"accept-language": "en"})
        assert response.status_code == 200
        banner = response.text.split('data-testid="test-mode-banner"', 1)
        assert len(banner) == 2, path
        assert "Test mode" in banner[1][:200]


async def test_signup_form_errors_rerender_with_messages(zc_client, zc_runtime):
    page = await zc_client.get("/signup")
    assert 'data-testid="signup-form"' in page.text and 'name="creator"' in page.text
    response = await zc_client.post(
        "/signup",
        data={"email": "Typed@Example", "display_name": "Typed Name", "password": "short", "_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert 'value="Typed@Example"' in response.text, "the typed email is kept"
    assert 'value="Typed Name"' in response.text
    assert response.text.count('class="field-error"') == 2
    assert "enter a valid email address" in response.text and "use at least 8 characters" in response.text
    assert 'name="password" value' not in response.text, "the password is never echoed"
    assert "zc_session" not in zc_client.cookies
    async with zc_runtime.db.session() as session:
        assert (await session.execute(select(User))).first() is None


async def test_signup_duplicate_email_rerenders_with_409(zc_client, zc_make_user):
    await zc_make_user("taken@example.com")
    page = await zc_client.get("/signup")
    response = await zc_client.post(
        "/signup", data={"email": "TAKEN@example.com", "display_name": "Again", "password": TEST_PASSWORD, "_csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 409
    assert "already registered" in response.text and 'value="TAKEN@example.com"' in response.text


async def test_signup_as_creator_from_the_storefront(zc_client, zc_runtime):
    page = await zc_client.get("/signup")
    response = await zc_client.post(
        "/signup",
        data={"email": "kol@example.com", "display_name": "Mia", "password": TEST_PASSWORD, "creator": "1", "_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    async with zc_runtime.db.session() as session:
        user = (await session.execute(select(User).where(User.email == "kol@example.com"))).scalar_one()
        roles = set((await session.execute(select(UserRole.role).where(UserRole.user_id == user.id))).scalars())
    assert roles == {"creator"}
    account = await zc_client.get("/account")
    assert '<span class="tag">creator</span>' in account.text


async def test_logged_in_nav_has_a_working_logout_form(zc_client, zc_make_user):
    user = await zc_make_user()
    await html_login(zc_client, user.email)
    home = await zc_client.get("/")
    form = re.search(r'<form method="post" action="/logout"[^>]*>(.*?)</form>', home.text, re.S)
    assert form, "the top bar offers a logout form"
    response = await zc_client.post("/logout", data={"_csrf_token": csrf_from(form.group(1))}, follow_redirects=False)
    assert response.status_code == 303
    assert 'data-testid="login-link"' in (await zc_client.get("/")).text


async def test_static_assets_are_cacheable_and_sessionless(zc_client):
    r = await zc_client.get("/static/storefront/app.css")
    assert r.status_code == 200 and "public" in r.headers["cache-control"] and "max-age=3600" in r.headers["cache-control"]
    assert r.headers.get("etag") or r.headers.get("last-modified")
    assert "set-cookie" not in r.headers  # no session or CSRF cookie per file
