"""/account/settings: name, language and password, without JavaScript."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from core.auth.models import User
from core.testing import TEST_PASSWORD, api_token, html_login, post_form

SETTINGS = "/account/settings"
PASSWORD = "/account/settings/password"
NEW_PASSWORD = "a-brand-new-passphrase"


async def signed_in(client, make_user, email: str | None = None, *, lang: str = "en") -> User:
    user = await make_user(email)
    await html_login(client, user.email)
    await client.get(f"/lang/{lang}")  # the footer's language switch
    return user


async def stored(runtime, user_id: int) -> User:
    async with runtime.db.session() as session:
        return await session.get(User, user_id)


def password_form(current: str = TEST_PASSWORD, new: str = NEW_PASSWORD, confirm: str | None = None) -> dict[str, str]:
    return {"current_password": current, "new_password": new, "confirm_password": new if confirm is None else confirm}


async def test_guests_are_sent_to_log_in(zc_client):
    page = await zc_client.get(SETTINGS, follow_redirects=False)
    assert page.status_code == 302 and page.headers["location"] == "/login?next=/account/settings"
    for path, data in ((SETTINGS, {"display_name": "Ann", "locale": "en"}), (PASSWORD, password_form())):
        response = await post_form(zc_client, path, data)
        assert response.status_code == 302 and response.headers["location"].startswith("/login?next="), path


async def test_the_page_renders_from_the_account(zc_client, zc_make_user):
    user = await signed_in(zc_client, zc_make_user, "mia@example.com")
    account = await zc_client.get("/account")
    assert 'href="/account/settings" data-testid="account-settings-link"' in account.text
    page = await zc_client.get(SETTINGS)
    assert page.status_code == 200
    html = page.text
    for testid in ("profile-form", "password-form", "display-name-input", "locale-select", "save-profile", "change-password"):
        assert f'data-testid="{testid}"' in html, testid
    assert f'value="{user.display_name}"' in html
    assert '<option value="zh-CN" lang="zh-CN" selected>' in html, "the account's language is chosen"
    for name, complete in (("current_password", "current-password"), ("new_password", "new-password"), ("confirm_password", "new-password")):
        assert f'<label for="{name}">' in html
        assert f'name="{name}" type="password" required autocomplete="{complete}"' in html
    assert html.count('name="_csrf_token"') >= 2


async def test_saving_name_and_language(zc_client, zc_make_user, zc_runtime):
    user = await signed_in(zc_client, zc_make_user)
    response = await post_form(zc_client, SETTINGS, {"display_name": " Mia Chen ", "locale": "en"})
    assert response.status_code == 303 and response.headers["location"] == "/account/settings?notice=Settings+saved"
    assert any(c.startswith("zc_lang=en") for c in response.headers.get_list("set-cookie")), "the language switch's cookie follows the choice"
    page = await zc_client.get(response.headers["location"])
    assert '<p class="notice" role="status">Settings saved</p>' in page.text
    assert 'value="Mia Chen"' in page.text and '<option value="en" lang="en" selected>' in page.text
    after = await stored(zc_runtime, user.id)
    assert (after.display_name, after.locale) == ("Mia Chen", "en")

    response = await post_form(zc_client, SETTINGS, {"display_name": "Mia Chen", "locale": "zh-CN"})
    assert any(c.startswith("zc_lang=zh-CN") for c in response.headers.get_list("set-cookie"))
    page = await zc_client.get(response.headers["location"])
    assert '<html lang="zh-CN">' in page.text and "设置已保存" in page.text and "修改密码" in page.text
    again = await post_form(zc_client, SETTINGS, {"display_name": "Mia Chen", "locale": "zh-CN"})
    assert again.status_code == 303, "saving twice is harmless"


async def test_bad_profile_input_is_shown_on_the_page(zc_client, zc_make_user, zc_runtime):
    user = await signed_in(zc_client, zc_make_user)
    for data, message in (({"display_name": "   ", "locale": "en"}, "enter a name of 1-80 characters"), ({"display_name": "Ann", "locale": "fr"}, "choose zh-CN or en"),
                          ({"display_name": "x" * 81, "locale": "en"}, "enter a name of 1-80 characters")):
        response = await post_form(zc_client, SETTINGS, data)
        assert response.status_code == 422, data
        assert 'data-testid="profile-form"' in response.text and message in response.text
        assert 'aria-invalid="true"' in response.text
    after = await stored(zc_runtime, user.id)
    assert (after.display_name, after.locale) == (user.display_name, user.locale)


async def test_changing_the_password_keeps_this_browser_only(zc_client, zc_make_user, zc_runtime, zc_app):
    user = await signed_in(zc_client, zc_make_user)
    old_cookie = zc_client.cookies["zc_session"]
    token = await api_token(zc_client, user.email)
    async with AsyncTestClient(app=zc_app, base_url="http://testserver.local") as other:
        await html_login(other, user.email)
        assert (await other.get("/account")).status_code == 200

        response = await post_form(zc_client, PASSWORD, password_form())
        assert response.status_code == 303 and response.headers["location"] == "/account/settings?notice=Password+changed"
        page = await zc_client.get(response.headers["location"])
        assert page.status_code == 200 and '<p class="notice" role="status">Password changed</p>' in page.text
        assert (await zc_client.get("/account")).status_code == 200, "this browser stays signed in"

        elsewhere = await other.get("/account", follow_redirects=False)
        assert elsewhere.status_code == 302, "the other browser is signed out"
        other.cookies.set("zc_session", old_cookie)
        assert (await other.get("/account", follow_redirects=False)).status_code == 302, "the old cookie, replayed, is dead"
    assert (await zc_client.get("/api/v1/me", headers=token)).status_code == 401, "tokens are revoked too"
    assert (await zc_client.post("/api/v1/auth/token", json={"email": user.email, "password": TEST_PASSWORD})).status_code == 401
    assert (await zc_client.post("/api/v1/auth/token", json={"email": user.email, "password": NEW_PASSWORD})).status_code == 200


async def test_bad_password_input_is_shown_on_the_page(zc_client, zc_make_user, zc_runtime):
    user = await signed_in(zc_client, zc_make_user)
    cases = (
        (password_form(current="not my password"), 403, "the current password is wrong", "current_password"),
        (password_form(new="short"), 422, "use at least 8 characters", "new_password"),
        (password_form(confirm="something else"), 422, "does not match", "confirm_password"),
    )
    for data, status, message, field in cases:
        response = await post_form(zc_client, PASSWORD, data)
        assert response.status_code == status, data
        assert 'data-testid="password-form"' in response.text and message in response.text
        assert f'aria-invalid="true" aria-describedby="{field}-error"' in response.text
        assert TEST_PASSWORD not in response.text and NEW_PASSWORD not in response.text, "passwords are never echoed"
    assert (await zc_client.get("/account")).status_code == 200
    assert (await stored(zc_runtime, user.id)).password_hash == user.password_hash


async def test_posts_without_csrf_are_refused(zc_client, zc_make_user, zc_runtime):
    user = await signed_in(zc_client, zc_make_user)
    await zc_client.get(SETTINGS)
    for path, data in ((SETTINGS, {"display_name": "Forged", "locale": "en"}), (PASSWORD, password_form())):
        response = await post_form(zc_client, path, data, token=False)
        assert response.status_code == 403, path
    after = await stored(zc_runtime, user.id)
    assert after.display_name == user.display_name and after.password_hash == user.password_hash


async def test_a_name_with_markup_renders_as_text(zc_client, zc_make_user):
    await signed_in(zc_client, zc_make_user)
    evil = '<script>alert(1)</script>"><b>'
    assert (await post_form(zc_client, SETTINGS, {"display_name": evil, "locale": "en"})).status_code == 303
    for path in (SETTINGS, "/account"):
        html = (await zc_client.get(path)).text
        assert "<script>alert(1)</script>" not in html and "<b>" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
