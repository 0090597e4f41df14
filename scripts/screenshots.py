"""Screenshots of the storefront (phone width) and the creator portal (desktop width), for docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--locale zh-CN|en] [--surface storefront|portal|both]

Starts the demo in a temporary folder, the way the browser tests do
(tests/browser/conftest.py: running_demo), opens each page in Debian's chromium
(ZHONGCAO_TEST_CHROMIUM, else /usr/bin/chromium) through Playwright, and saves the first
screen of each as a PNG (scale 1: a few dozen KB each): the storefront at 390x844, the
portal at 1280x900 under portal/, signed in as the demo brand, creator and staff.
The demo is bilingual: without a CJK font (Debian's fonts-noto-cjk, which the test
command installs) chromium draws its Chinese as empty boxes, so the script refuses to run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from plugins.notes.demo import SPONSORED_NOTE  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _chromium_path, running_demo  # noqa: E402

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "device_scale_factor": 1}
CREATOR = "mia.skin"
BRAND = "camellia-skin"


def shoot(page, out: Path, name: str, path: str | None = None) -> None:  # noqa: ANN001
    if path is not None:
        page.goto(path)
    page.wait_for_load_state("networkidle")  # the images in view, and explore.js's layout
    target = out / f"{name}.png"
    page.screenshot(path=str(target), full_page=False)
    print(f"{target.relative_to(REPO) if target.is_relative_to(REPO) else target}  {target.stat().st_size // 1024} KB")


def add_to_cart(page, slug: str, option: str | None = None) -> None:  # noqa: ANN001
    page.goto(f"/products/{slug}")
    if option:
        page.get_by_test_id("product-page").locator("label.variant", has_text=option).click()
    page.get_by_test_id("add-to-cart").click()
    page.wait_for_url("**/cart")


def storefront(browser, base: str, out: Path, locale: str) -> None:  # noqa: ANN001
    context = browser.new_context(base_url=base, locale=locale, **PHONE)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"/lang/{locale}?next=/")
    shoot(page, out, "home")
    shoot(page, out, "explore", "/feed")
    note = page.get_by_test_id("feed-card").filter(has_text=SPONSORED_NOTE).locator("a").first.get_attribute("href")
    shoot(page, out, "note", note)
    page.goto("/feed")
    shoot(page, out, "topic", page.get_by_test_id("topic-chip").first.get_attribute("href"))  # a topic's channel
    shoot(page, out, "product", "/products/camellia-repair-cream")
    shoot(page, out, "search", "/search?q=%E8%8C%B6")  # 茶: tea, and the camellia (山茶花) line
    add_to_cart(page, "camellia-repair-cream", "50ml")
    add_to_cart(page, "tea-ritual-cold-brew-oolong")
    shoot(page, out, "cart", "/cart")
    shoot(page, out, "creator", f"/notes/people/{CREATOR}")
    context.close()


def portal_page(browser, base: str, locale: str, email: str):  # noqa: ANN001, ANN201
    """A desktop page signed in to the portal as one of the demo accounts."""
    from core.defaults.demo import DEMO_PASSWORD

    context = browser.new_context(base_url=base, locale=locale, **DESKTOP)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"/creator/lang/{locale}?next=/creator/login")
    form = page.get_by_test_id("login-form")
    form.locator('input[name="email"]').fill(email)
    form.locator('input[name="password"]').fill(DEMO_PASSWORD)
    form.locator('button[type="submit"]').click()
    page.wait_for_url("**/creator")
    return page


def href_of(page, path: str, text: str) -> str:  # noqa: ANN001
    page.goto(path)
    return page.locator("main a", has_text=text).first.get_attribute("href")


def portal(browser, base: str, out: Path, locale: str) -> None:  # noqa: ANN001
    from core.defaults.demo import DEMO_CAMPAIGN_TITLE, DEMO_REVIEW_CAMPAIGN_TITLE

    out = out / "portal"
    out.mkdir(parents=True, exist_ok=True)
    brand = portal_page(browser, base, locale, "brand@demo.zhongcao.dev")
    home = f"/creator/brands/{BRAND}"
    shoot(brand, out, "brand-dashboard", "/creator")
    shoot(brand, out, "brand-products", f"{home}/products")
    shoot(brand, out, "brand-stock", f"{home}/stock")
    shoot(brand, out, "brand-orders", f"{home}/orders")
    shoot(brand, out, "brand-campaigns", f"{home}/campaigns")
    shoot(brand, out, "brand-campaign-wizard", f"{home}/campaigns/new")
    review = href_of(brand, f"{home}/campaigns", DEMO_REVIEW_CAMPAIGN_TITLE.split(" / ")[-1])
    shoot(brand, out, "brand-board", f"{review}/board")
    brand.locator(".collab-card", has_text="@jun.tea").get_by_test_id("collab-link").click()
    shoot(brand, out, "brand-content-review")
    first = href_of(brand, f"{home}/campaigns", DEMO_CAMPAIGN_TITLE.split(" / ")[-1])
    shoot(brand, out, "brand-campaign-report", f"{first}/report")
    shoot(brand, out, "brand-discovery", f"{home}/creators")
    shoot(brand, out, "brand-creator-page", f"{home}/creators/{CREATOR}")
    shoot(brand, out, "brand-money", f"{home}/money")
    brand.context.close()

    mia = portal_page(browser, base, locale, "creator@demo.zhongcao.dev")
    shoot(mia, out, "creator-dashboard", "/creator")
    shoot(mia, out, "creator-marketplace", "/creator/me/campaigns")
    shoot(mia, out, "creator-collaborations", "/creator/me/collaborations")
    shoot(mia, out, "creator-collaboration", href_of(mia, "/creator/me/collaborations", DEMO_REVIEW_CAMPAIGN_TITLE.split(" / ")[-1]))
    shoot(mia, out, "creator-links", "/creator/me/links")
    shoot(mia, out, "creator-earnings", "/creator/me/earnings")
    mia.context.close()

    staff = portal_page(browser, base, locale, "staff@demo.zhongcao.dev")
    shoot(staff, out, "staff-payout-runs", "/creator/staff/payouts")
    staff.context.close()


def has_cjk_font() -> bool:
    try:
        found = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    except OSError:  # no fontconfig: chromium has no fonts to find either
        return False
    return bool(found.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots", help="folder for the PNGs (default: docs/screenshots)")
    parser.add_argument("--locale", choices=["zh-CN", "en"], default="zh-CN", help="the pages' language (default: zh-CN)")
    parser.add_argument("--surface", choices=["storefront", "portal", "both"], default="both", help="which web app (default: both)")
    args = parser.parse_args()
    chromium = _chromium_path()
    if chromium is None:
        print(f"no chromium at {CHROMIUM} (apt-get install chromium, or set ZHONGCAO_TEST_CHROMIUM)", file=sys.stderr)
        return 1
    if not has_cjk_font():
        print("no CJK font: the Chinese would show as empty boxes (apt-get install fonts-noto-cjk)", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zhongcao-screenshots-") as var, running_demo(Path(var)) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            if args.surface in ("storefront", "both"):
                storefront(browser, base, out, args.locale)
            if args.surface in ("portal", "both"):
                portal(browser, base, out, args.locale)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
