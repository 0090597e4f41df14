"""Phone-width screenshots of the storefront's main pages, for docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--locale zh-CN|en]

Starts the demo in a temporary folder, the way the browser tests do
(tests/browser/conftest.py: running_demo), opens each page in Debian's chromium
(ZHONGCAO_TEST_CHROMIUM, else /usr/bin/chromium) through Playwright at 390x844, and saves
the first screen of each as a PNG (scale 1: a few dozen KB each).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from plugins.notes.demo import SPONSORED_NOTE  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _chromium_path, running_demo  # noqa: E402

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1, "is_mobile": True, "has_touch": True}
CREATOR = "mia.skin"


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots", help="folder for the PNGs (default: docs/screenshots)")
    parser.add_argument("--locale", choices=["zh-CN", "en"], default="zh-CN", help="the storefront's language (default: zh-CN)")
    args = parser.parse_args()
    chromium = _chromium_path()
    if chromium is None:
        print(f"no chromium at {CHROMIUM} (apt-get install chromium, or set ZHONGCAO_TEST_CHROMIUM)", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zhongcao-screenshots-") as var, running_demo(Path(var)) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=base, locale=args.locale, **PHONE)
            context.set_default_timeout(15_000)
            page = context.new_page()
            page.goto(f"/lang/{args.locale}?next=/")
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
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
