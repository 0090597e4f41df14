"""The real product in a real browser: storefront and creator portal, as people use them."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.conftest import DEMO_PASSWORD, MOBILE

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/zhongcao-home.png"


def expect():  # noqa: ANN201 - imported lazily so a missing playwright skips in the fixture
    from playwright.sync_api import expect as _expect

    return _expect


def login(page, path: str, email: str, password: str = DEMO_PASSWORD) -> None:  # noqa: ANN001
    form = page.get_by_test_id("login-form")
    form.locator('input[name="email"]').fill(email)
    form.locator('input[name="password"]').fill(password)
    form.locator('button[type="submit"]').click()


def test_mobile_home_chinese_by_default_then_english(new_page) -> None:  # noqa: ANN001
    # A browser with neither Chinese nor English preferred gets the default: Chinese.
    page = new_page(**MOBILE, locale="fr-FR")
    page.goto("/")
    brands = page.get_by_test_id("brand-list")
    expect()(brands).to_be_visible()
    expect()(brands.locator("li.card")).to_have_count(3)
    expect()(brands).to_contain_text("山茶花护肤 Camellia Skin")
    expect()(page.get_by_test_id("test-mode-banner")).to_be_visible()
    expect()(page.get_by_test_id("test-mode-banner")).to_contain_text("测试模式")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    expect()(page.get_by_test_id("login-link")).to_have_text("登录")
    # two columns of brand cards fit the phone's width: nothing scrolls sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    first, second = (brands.locator("li.card").nth(i).bounding_box() for i in (0, 1))
    assert first["y"] == second["y"] and first["x"] < second["x"]
    page.screenshot(path=SCREENSHOT, full_page=True)

    page.locator("footer").get_by_role("link", name="English").click()
    expect()(page.get_by_test_id("login-link")).to_have_text("Log in")
    expect()(page.get_by_test_id("test-mode-banner")).to_contain_text("Test mode")
    assert page.locator("html").get_attribute("lang") == "en"
    expect()(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/$"))  # back on the home page
    # the choice sticks across pages
    page.goto("/login")
    expect()(page.get_by_test_id("login-form")).to_contain_text("Welcome back")


def test_sign_up_log_out_log_in(new_page) -> None:  # noqa: ANN001
    page = new_page(**MOBILE)
    email = f"shopper-{uuid.uuid4().hex[:8]}@example.com"
    name = f"小红 {uuid.uuid4().hex[:4]}"
    page.goto("/")
    page.locator("header").get_by_role("link", name=re.compile("注册|Sign up")).click()
    expect()(page).to_have_url(re.compile(r"/signup$"))
    form = page.get_by_test_id("signup-form")
    form.locator('input[name="email"]').fill(email)
    form.locator('input[name="display_name"]').fill(name)
    form.locator('input[name="password"]').fill("a-long-password-1")
    form.locator('button[type="submit"]').click()

    account = page.get_by_test_id("account-link")
    expect()(account).to_have_text(name)
    expect()(page.get_by_test_id("brand-list")).to_be_visible()  # landed on the home page

    page.locator('form[action="/logout"] button').click()
    expect()(page.get_by_test_id("login-link")).to_be_visible()
    expect()(account).to_have_count(0)
    page.goto("/account")
    expect()(page).to_have_url(re.compile(r"/login\?next=/account$"))  # logged out for real

    login(page, "/login", email, "a-long-password-1")
    expect()(page).to_have_url(re.compile(r"/account$"))
    expect()(page.locator("main")).to_contain_text(email)
    expect()(page.get_by_test_id("account-link")).to_have_text(name)


def test_wrong_password_shows_an_error(new_page) -> None:  # noqa: ANN001
    page = new_page()
    page.goto("/login")
    login(page, "/login", "shopper@demo.zhongcao.dev", "not-the-password")
    expect()(page.get_by_test_id("login-form").get_by_role("alert")).to_be_visible()
    expect()(page.get_by_test_id("login-link")).to_be_visible()


def test_brand_owner_and_creator_dashboards(new_page) -> None:  # noqa: ANN001
    page = new_page()
    page.goto("/creator/login")
    login(page, "/creator/login", "brand@demo.zhongcao.dev")
    expect()(page).to_have_url(re.compile(r"/creator$"))
    my_brands = page.get_by_test_id("my-brands")
    expect()(my_brands).to_be_visible()
    expect()(my_brands).to_contain_text("山茶花护肤 Camellia Skin")
    expect()(page.get_by_test_id("portal-user")).to_have_text("山茶花 Camellia Team")
    expect()(page.get_by_test_id("creator-card")).to_have_count(0)

    page = new_page()
    page.goto("/creator/login")
    login(page, "/creator/login", "creator@demo.zhongcao.dev")
    expect()(page).to_have_url(re.compile(r"/creator$"))
    expect()(page.get_by_test_id("creator-card")).to_be_visible()
    expect()(page.get_by_test_id("portal-user")).to_have_text("种草小达人 Mia")
    expect()(page.get_by_test_id("my-brands")).to_have_count(0)


def test_portal_requires_login_and_returns_after_it(new_page) -> None:  # noqa: ANN001
    page = new_page()
    page.goto("/creator")
    expect()(page).to_have_url(re.compile(r"/creator/login\?next=/creator$"))
    expect()(page.get_by_test_id("login-form")).to_be_visible()
    login(page, "/creator/login", "creator@demo.zhongcao.dev")
    expect()(page).to_have_url(re.compile(r"/creator$"))
    expect()(page.get_by_test_id("creator-card")).to_be_visible()


def test_unknown_page_shows_friendly_error(new_page) -> None:  # noqa: ANN001
    page = new_page(**MOBILE)
    response = page.goto("/no-such-page-here")
    assert response is not None and response.status == 404
    error = page.get_by_test_id("error-page")
    expect()(error).to_be_visible()
    expect()(error).to_contain_text("404")
    home = error.get_by_role("link")
    expect()(home).to_have_attribute("href", "/")
    home.click()
    expect()(page.get_by_test_id("brand-list")).to_be_visible()
