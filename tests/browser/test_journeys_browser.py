"""The storefront's journeys (issue 7) in a real browser, on the demo:

1. a new visitor signs up, picks topics, scrolls explore, opens a note, buys the product it
   tags ("Buy now", sandbox card) and finds the order; the sale is credited to the note's
   author (read from the demo's SQLite file);
2. a shopper likes, collects (into a new board) and comments on a note; after a reload the
   note, their likes and the explore feed show it;
3. search in Chinese and in English, narrowed with a brand facet;
5. the main pages at phone and desktop width: nothing scrolls sideways, the main parts show.

(4, the same checkout with Stripe, is in test_stripe_browser.py, on its Stripe-mode demo.) Each step's
screenshot goes to the `shot` fixture's folder (conftest.ARTIFACTS).

The demo has 23 notes, more than one page of explore (20 cards), so explore.js has a second
page to load as the reader scrolls.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import MOBILE, demo_folder, running_demo
from tests.browser.test_purchase_browser import expect

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PASSWORD = "a-long-password-1"
ADDRESS = {"name": "林小满", "phone": "+86 138 0000 0000", "line1": "静安区南京西路 1 号", "city": "上海", "region": "SH", "postal_code": "200040"}
SPONSORED_NOTE = "山茶花修护霜两周记录"  # Mia's note (plugins/notes/demo.py): tags the repair cream that Camellia Skin's campaign seeds with her
MIA = "creator@demo.zhongcao.dev"
CREAM = "Camellia Repair Cream"
TEA_NOTE = "冷泡乌龙的正确打开方式"  # Jun's note, engaged with in journey 2
PAGE_CARDS = 20  # one page of explore (plugins.feed.pages.PER_PAGE)


# ---------------------------------------------------------------- the demo


@pytest.fixture(scope="module")
def demo_var(seeded_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_folder(seeded_demo, tmp_path_factory, "demo-journeys-var")


@pytest.fixture(scope="module")
def demo_url(demo_var: Path) -> Iterator[str]:
    """The demo (overrides conftest's to know its folder)."""
    with running_demo(demo_var) as base:
        yield base


# ---------------------------------------------------------------- the demo's database (read-only)


@contextlib.contextmanager
def database(demo_var: Path) -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sqlite3.connect(f"file:{demo_var / 'zhongcao.db'}?mode=ro", uri=True, timeout=10)) as db:
        yield db


def one(demo_var: Path, sql: str, *params: Any) -> Any:
    with database(demo_var) as db:
        row = db.execute(sql, params).fetchone()
    return row[0] if row and len(row) == 1 else row


def note_id(demo_var: Path, title: str) -> int:
    return one(demo_var, "SELECT id FROM notes_note WHERE title = ?", title)


def eventually(read, what: str, timeout: float = 10.0):
    """`read()` until it answers: the demo's in-process worker handles `order.paid` a moment after the payment."""
    deadline = time.monotonic() + timeout
    while not (found := read()):
        assert time.monotonic() < deadline, f"still no {what} after {timeout:.0f} s"
        time.sleep(0.05)
    return found


def attributions(demo_var: Path, token: str) -> list[tuple]:
    """The attribution rows of the checkout's orders: (creator email, source, ref, blocked, sku)."""
    with database(demo_var) as db:
        return db.execute(
            "SELECT u.email, a.source, a.ref, a.blocked_reason, ol.sku FROM campaign_attribution a"
            " JOIN order_line ol ON ol.id = a.order_line_id JOIN sales_order o ON o.id = a.order_id"
            " JOIN checkout c ON c.id = o.checkout_id LEFT JOIN user_account u ON u.id = a.creator_user_id WHERE c.token = ?",
            (token,),
        ).fetchall()


def assert_credited_to_the_author(demo_var: Path, token: str, email: str, note: int) -> None:
    """The order's cream line is the note author's (source note), with a commission; the
    shopper's touch on the note is recorded."""
    rows = eventually(lambda: attributions(demo_var, token), "attribution of the order")
    assert rows == [(MIA, "note", str(note), None, "CS-CREAM-50")]
    commission = eventually(
        lambda: one(demo_var, "SELECT c.amount_minor FROM commission c JOIN sales_order o ON o.id = c.order_id JOIN checkout k ON k.id = o.checkout_id WHERE k.token = ?", token),
        "commission",
    )
    assert commission > 0
    touches = one(demo_var, "SELECT count(*) FROM notes_touch t JOIN user_account u ON u.id = t.user_id WHERE t.note_id = ? AND u.email = ?", note, email)
    assert touches == 1


# ---------------------------------------------------------------- steps


def sign_up(page, email: str, name: str = "新朋友 Newcomer") -> None:
    """The sign-up form, in English (the browser's language follows the account afterwards)."""
    page.goto("/lang/en?next=/signup")
    form = page.get_by_test_id("signup-form")
    form.locator('input[name="email"]').fill(email)
    form.locator('input[name="display_name"]').fill(name)
    form.locator('input[name="password"]').fill(PASSWORD)
    form.locator('button[type="submit"]').click()
    expect()(page.get_by_test_id("account-link")).to_have_text(name)


def new_email() -> str:
    return f"visitor-{uuid.uuid4().hex[:10]}@example.com"


def counter(n: int) -> re.Pattern[str]:
    """A counter on a button or card, as a whole number."""
    return re.compile(rf"(?<!\d){n}(?!\d)")


def fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{page.url} scrolls sideways"


def scroll_to_the_end(page) -> None:
    """Scroll explore as a reader does, until explore.js has loaded every page."""
    cards = page.get_by_test_id("feed-card")
    while page.get_by_test_id("feed-more").count():
        shown = cards.count()
        page.mouse.wheel(0, 50_000)
        page.wait_for_function(
            "n => document.querySelectorAll('[data-testid=feed-card]').length > n || !document.querySelector('[data-testid=feed-more]')", arg=shown,
        )


def buy_now(page, note: int, product: str) -> str:
    """On the note: "Buy now" on the tagged product, then the address; returns the checkout token."""
    if not page.url.endswith(f"/notes/{note}"):
        page.goto(f"/notes/{note}")
    page.get_by_test_id("tagged-product").filter(has_text=product).get_by_test_id("buy-now").click()
    expect()(page).to_have_url(re.compile(r"/checkout$"))
    expect()(page.get_by_test_id("summary-group")).to_contain_text(product)
    form = page.get_by_test_id("address-form")
    for name, value in ADDRESS.items():
        form.locator(f'input[name="{name}"]').fill(value)
    expect()(form.locator('input[name="country"]')).to_have_value("CN")
    page.get_by_test_id("to-payment").click()
    expect()(page).to_have_url(re.compile(r"/checkout/[0-9a-f-]{36}$"))
    expect()(page.get_by_test_id("pay-order")).to_have_count(1)
    expect()(page.get_by_test_id("pay-order")).to_contain_text(product)
    return page.url.rsplit("/", 1)[1]


# ---------------------------------------------------------------- 1. sign up, explore, buy from a note


def test_new_visitor_buys_from_a_note_and_the_author_is_credited(new_page, shot, demo_var) -> None:
    page = new_page(**MOBILE, locale="en-US")
    email = new_email()
    sign_up(page, email)

    # the home page asks for topics; pick two
    prompt = page.get_by_test_id("pick-topics-prompt")
    expect()(prompt).to_be_visible()
    fits(page, 390)
    shot(page, "home-prompt")
    prompt.get_by_role("link").click()
    expect()(page).to_have_url(re.compile(r"/feed/topics$"))
    for topic in ("#护肤", "#敏感肌"):
        page.get_by_test_id("topic-option").filter(has_text=topic).click()
    expect()(page.locator('input[name="topic"]:checked')).to_have_count(2)
    shot(page, "topics")
    page.get_by_test_id("topics-save").click()

    # explore: a page of cards, then explore.js appends the rest as the reader scrolls
    expect()(page).to_have_url(re.compile(r"/feed\?notice="))
    expect()(page.locator("main .notice")).to_have_text("Your topics are saved.")
    expect()(page.get_by_test_id("feed-card")).to_have_count(PAGE_CARDS)
    notes = page.locator('[data-testid="feed-card"][data-kind="note"]')  # other plugins may add cards of their own
    picked = notes.filter(has_text=SPONSORED_NOTE).get_attribute("data-pos")  # #护肤 #敏感肌: on both picked topics
    assert picked is not None and int(picked) < 4, f"the note on both picked topics is card {picked}, not among the first"
    fits(page, 390)
    shot(page, "explore")
    published = one(demo_var, "SELECT count(*) FROM notes_note WHERE status = 'published' AND visibility = 'public'")
    assert published > PAGE_CARDS
    with page.expect_response(re.compile(r"/feed/more\?cursor=")) as more:
        page.mouse.wheel(0, 50_000)
    assert more.value.ok
    scroll_to_the_end(page)
    expect()(notes).to_have_count(published)  # every note once, no repeats
    expect()(page.get_by_test_id("explore-feed")).to_contain_text("That's all for now.")
    fits(page, 390)
    shot(page, "explore-scrolled")

    # the sponsored note, and its product sheet
    note = note_id(demo_var, SPONSORED_NOTE)
    notes.filter(has_text=SPONSORED_NOTE).click()
    expect()(page).to_have_url(re.compile(rf"/notes/{note}$"))
    expect()(page.get_by_test_id("note-title")).to_have_text(SPONSORED_NOTE)
    expect()(page.get_by_test_id("sponsored-label")).to_contain_text("Camellia Skin")
    sheet = page.get_by_test_id("product-sheet")
    expect()(sheet.get_by_test_id("tagged-product")).to_have_count(2)
    sheet.scroll_into_view_if_needed()
    fits(page, 390)
    shot(page, "note")

    # buy now, the sandbox card, the order
    token = buy_now(page, note, CREAM)
    expect()(page.get_by_test_id("pay-form")).to_contain_text("TEST MODE")
    page.get_by_test_id("pay-form").locator('input[name="card"]').fill("4242 4242 4242 4242")
    shot(page, "payment")
    page.get_by_test_id("pay-button").click()
    expect()(page).to_have_url(re.compile(rf"/checkout/{token}/done$"))
    done = page.get_by_test_id("done-order")
    expect()(done).to_have_count(1)
    expect()(done).to_contain_text(CREAM)
    number = done.locator("strong").first.inner_text()
    shot(page, "done")
    page.goto("/account/orders")
    row = page.get_by_test_id("order-list").locator("li", has_text=number)
    expect()(row).to_have_count(1)
    expect()(row).to_contain_text("Paid")
    expect()(page.get_by_test_id("order-list").locator("li")).to_have_count(1)  # a new account: this order only
    shot(page, "orders")

    assert_credited_to_the_author(demo_var, token, email, note)


# ---------------------------------------------------------------- 2. like, collect, comment


def test_shopper_likes_collects_and_comments(new_page, shot, demo_var) -> None:
    page = new_page(**MOBILE, locale="en-US")
    sign_up(page, new_email(), "点赞的人 Liker")
    note = note_id(demo_var, TEA_NOTE)
    likes, collects, comments = one(demo_var, "SELECT like_count, collect_count, comment_count FROM notes_note WHERE id = ?", note)

    # the note, from explore
    page.goto("/feed")
    scroll_to_the_end(page)
    card = page.get_by_test_id("feed-card").filter(has_text=TEA_NOTE)
    expect()(card.get_by_test_id("feed-likes")).to_contain_text(counter(likes))
    card.click()
    expect()(page).to_have_url(re.compile(rf"/notes/{note}$"))
    actions = page.get_by_test_id("note-actions")

    # like and collect without a reload (note.js), into a new board
    with page.expect_response(re.compile(rf"/notes/{note}/like")) as liked:
        page.get_by_test_id("like-button").click()
    assert liked.value.ok
    expect()(page.get_by_test_id("unlike-button")).to_be_visible()
    expect()(page.get_by_test_id("like-button")).to_be_hidden()
    expect()(page.get_by_test_id("unlike-button")).to_contain_text(counter(likes + 1))
    page.get_by_test_id("collect-button").click()
    collect = page.get_by_test_id("collect-form")
    expect()(collect).to_be_visible()
    collect.get_by_label("Or a new board").fill("夏日茶饮 Summer tea")
    shot(page, "collect")
    collect.get_by_test_id("collect-submit").click()
    expect()(page.get_by_test_id("uncollect-button")).to_be_visible()
    expect()(page.get_by_test_id("uncollect-button")).to_contain_text(counter(collects + 1))

    # a comment (markup in it stays text)
    comment = "周末试试冷泡！<script>window.pwned = 1</script>"
    page.get_by_test_id("comment-form").locator("textarea").fill(comment)
    page.get_by_test_id("comment-submit").click()
    expect()(page).to_have_url(re.compile(rf"/notes/{note}#c\d+$"))
    mine = page.get_by_test_id("comment").filter(has_text="周末试试冷泡！")
    expect()(mine.get_by_test_id("comment-body")).to_have_text(comment)
    assert page.evaluate("window.pwned") is None
    shot(page, "commented")

    # after a reload the note remembers all three
    page.reload()
    expect()(page.get_by_test_id("unlike-button")).to_be_visible()
    expect()(page.get_by_test_id("unlike-button")).to_contain_text(counter(likes + 1))
    expect()(page.get_by_test_id("uncollect-button")).to_be_visible()
    expect()(page.get_by_test_id("uncollect-button")).to_contain_text(counter(collects + 1))
    expect()(page.get_by_test_id("comment").filter(has_text="周末试试冷泡！")).to_have_count(1)
    expect()(actions.get_by_test_id("comments-link")).to_contain_text(counter(comments + 1))
    fits(page, 390)
    shot(page, "reloaded")

    # my likes and my boards
    page.goto("/notes/me/likes")
    expect()(page.get_by_test_id("my-likes").locator(f'[data-note-id="{note}"]')).to_be_visible()
    shot(page, "my-likes")
    page.goto("/notes/me/boards")
    board = page.get_by_test_id("board").filter(has_text="夏日茶饮 Summer tea")
    expect()(board).to_contain_text(re.compile(r"\b1 notes?\b"))

    # the explore feed changes: the note leaves the shopper's own feed (explore offers what
    # they have not engaged with yet), and everyone else's card shows one more like
    page.goto("/feed")
    scroll_to_the_end(page)
    expect()(page.get_by_test_id("feed-card").filter(has_text=TEA_NOTE)).to_have_count(0)
    shot(page, "feed-after")
    guest = new_page(**MOBILE, locale="en-US")
    guest.goto("/lang/en?next=/feed")
    scroll_to_the_end(guest)
    card = guest.get_by_test_id("feed-card").filter(has_text=TEA_NOTE)
    expect()(card.get_by_test_id("feed-likes")).to_contain_text(counter(likes + 1))
    card.scroll_into_view_if_needed()
    shot(guest, "feed-guest")


# ---------------------------------------------------------------- 3. search


def test_search_in_chinese_and_english_with_a_brand_facet(new_page, shot) -> None:
    page = new_page(**MOBILE, locale="en-US")
    page.goto("/lang/en?next=/")

    # from the search box on top of every page, in Chinese
    box = page.locator("header").get_by_role("combobox", name="Search")  # type=search with suggestions
    box.fill("面霜")
    box.press("Enter")
    expect()(page).to_have_url(re.compile(r"/search\?q=%E9%9D%A2%E9%9C%9C$"))
    hits = page.get_by_test_id("search-hit")
    expect()(hits).to_have_count(1)
    expect()(hits.first).to_contain_text(CREAM)
    expect()(hits.first.locator("mark")).to_have_text("面霜")
    fits(page, 390)
    shot(page, "chinese")

    # in English: two brands sell gifts
    query = page.get_by_test_id("search-form").get_by_role("combobox", name="Search")
    query.fill("gift")
    query.press("Enter")
    expect()(page).to_have_url(re.compile(r"/search\?(.*&)?q=gift"))
    expect()(page.get_by_test_id("search-total")).to_have_text("3 results")
    brands = page.get_by_test_id("facet-brand")
    expect()(brands.locator("label")).to_have_count(2)
    page.get_by_test_id("search-filters").locator("summary").click()
    shot(page, "english")

    # narrowed to one brand: a ticked box applies at once (search.js)
    brands.locator("label", has_text="Tea Ritual").locator("input").check()
    expect()(page).to_have_url(re.compile(r"[?&]brand=tea-ritual"))
    expect()(page.get_by_test_id("search-total")).to_have_text("2 results")
    expect()(hits).to_have_count(2)
    for i in range(2):
        expect()(hits.nth(i)).to_contain_text("Tea Ritual")
    expect()(page.get_by_test_id("facet-brand").locator("label", has_text="Tea Ritual").locator("input")).to_be_checked()
    expect()(page.get_by_test_id("clear-filters")).to_be_visible()
    fits(page, 390)
    shot(page, "facet")

    # the other brand stays listed (disjunctive facets): ticking it too shows both brands' gifts
    other = page.get_by_test_id("facet-brand").locator("label").filter(has_not_text="Tea Ritual")
    expect()(other).to_have_count(1)
    other.locator("input").check()
    expect()(page.get_by_test_id("search-total")).to_have_text("3 results")
    expect()(page.get_by_test_id("facet-brand").locator("input:checked")).to_have_count(2)
    shot(page, "facet-two-brands")


# ---------------------------------------------------------------- 5. layout, phone and desktop


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_main_pages_fit_phone_and_desktop(new_page, shot, demo_var, device: str) -> None:
    options, width = (MOBILE, 390) if device == "phone" else (DESKTOP, 1280)
    page = new_page(**options, locale="en-US")
    page.goto("/lang/en?next=/")
    note = note_id(demo_var, SPONSORED_NOTE)
    pages = {
        "home": ("/", ["brand-list", "home-explore", "explore-more-link"]),
        "explore": ("/feed", ["feed-tabs", "topic-chips", "explore-feed", "feed-card"]),
        "note": (f"/notes/{note}", ["note-title", "note-body", "product-sheet", "buy-now", "like-button", "comments"]),
        "product": ("/products/camellia-repair-cream", ["product-page", "product-price", "add-to-cart"]),
        "search": ("/search?q=%E9%9D%A2%E9%9C%9C", ["search-form", "search-total", "search-hit"]),
    }
    for name, (path, parts) in pages.items():
        page.goto(path)
        fits(page, width)
        for testid in parts:
            part = page.get_by_test_id(testid).first
            expect()(part).to_be_visible()
            box = part.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, f"{name}: {testid} sticks out at {box}"
        if name == "explore":  # two columns of cards on a phone, four on a desktop (explore.js lays them out)
            expect()(page.locator(".feed-cols > .feed-col")).to_have_count(2 if device == "phone" else 4)
        tabbar = expect()(page.locator("nav.tabbar"))  # the phone's bottom tabs; a desktop has the top menu
        tabbar.to_be_visible() if device == "phone" else tabbar.to_be_hidden()
        shot(page, name, full_page=True)
