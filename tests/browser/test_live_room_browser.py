"""The live room's page for real users in a real browser, on the demo's room that is live
("今晚护肤直播", plugins/live/demo.py: Mia hosts it for Camellia Skin, the oil and the cream
pinned, a flash deal on the cream ready to launch):

1. a guest and three signed-in shoppers (Lin, Zhou, Leo: each a browser context of her
   own) open the room page; each counts four viewers; the guest has no chat form, a
   "Sign in to chat" link instead (the shoppers' forms show once their socket is open);
2. Lin says something through the chat form: every page, the guest's too, shows it;
3. the three shoppers send at the same instant (timers set to one wall-clock moment), so
   the room's fan-out, which sends a socket at most one frame every 50 ms, batches them
   into one JSON array frame: the guest's socket receives such a frame, and every page
   shows the three messages in one and the same order, the order the frames carried them;
4. the brand (brand@demo, the portal's room console) pins a third product and launches
   the flash deal: without a reload, the viewers' panels show the pinned product and the
   deal card with its countdown ticking and the units left;
5. the guest taps Like three times, then Lin once: the like count on every page goes up
   by the taps (likes are summed and announced at most once a second);
6. the deal's countdown ends: every page's card turns running, with its "Grab it"
   button, without a reload;
7. no page reconnected its socket on the way;
8. the guest's socket drops: her page connects again, fetches the panel afresh, shows the
   recent chat once, and hears the room again.

Each page records the raw frames of its room socket (an init script wraps WebSocket),
so the batching is checked on the very socket live.js reads. Screenshots go to the
`shot` fixture's folder (conftest.ARTIFACTS).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest

from tests.browser.test_portal_browser import DESKTOP, portal_login
from tests.browser.test_purchase_browser import BRAND_OWNER, expect, login

pytestmark = pytest.mark.browser

LIVE_TITLE = "今晚护肤直播 Tonight's skincare live"  # plugins/live/demo.py LIVE_TITLE
SHOPPERS = {  # the demo's signed-in viewers: display names as the chat shows them
    "lin": ("shopper@demo.zhongcao.dev", "小林 Lin"),
    "zhou": ("shopper2@demo.zhongcao.dev", "小周 Zhou"),
    "leo": ("leo@demo.zhongcao.dev", "周末徒步 Leo"),
}
CHAT_INTERVAL = 2.0  # seconds between two messages of one viewer (room.chat_interval_seconds)
TIMEOUT = 10_000  # ms: what the room says reaches a page well within this
# Every frame the room's socket receives, as the raw text, in order (before live.js sees it).
RECORD_FRAMES = """(() => {
  const Native = window.WebSocket;
  window.__roomFrames = [];
  window.__roomSockets = 0;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__roomSockets += 1;
      window.__roomSocket = this;
      this.addEventListener("message", (e) => window.__roomFrames.push(String(e.data)));
    }
  };
})();"""
# The room's chat as a page shows it: [name, text] per message, top to bottom.
CHAT_LINES = """() => Array.from(document.querySelectorAll('[data-testid=live-messages] [data-testid=live-message]'))
  .map((li) => [li.querySelector('b').textContent.trim(), li.querySelector('span').textContent])"""
# Submit the page's own chat form (live.js sends it on the socket) at one wall-clock moment.
SUBMIT_AT = """(at) => {
  const form = document.querySelector('[data-testid=live-chat-form]');
  setTimeout(() => form.requestSubmit(), Math.max(0, at - Date.now()));
  return at - Date.now();
}"""


def frames(page) -> list[Any]:  # noqa: ANN001
    """What the page's room socket received: each frame decoded (an object or a list of them)."""
    return [json.loads(f) for f in page.evaluate("() => window.__roomFrames")]


def chats_in_frames(page, texts: set[str]) -> list[str]:  # noqa: ANN001
    """The texts of `texts` in the order the socket's frames carried them."""
    out = []
    for frame in frames(page):
        for m in frame if isinstance(frame, list) else [frame]:
            if m.get("type") == "chat" and m.get("text") in texts:
                out.append(m["text"])
    return out


def batched(page, texts: set[str]) -> list[list[str]]:  # noqa: ANN001
    """The array frames the page received that carry two or more of `texts`."""
    found = []
    for frame in frames(page):
        if isinstance(frame, list):
            ours = [m["text"] for m in frame if m.get("type") == "chat" and m.get("text") in texts]
            if len(ours) >= 2:
                found.append(ours)
    return found


def room_page(new_page, room_id: int, email: str | None = None):  # noqa: ANN001, ANN201
    """A viewer of the room: a browser context of her own, signed in to the storefront as
    `email` (a guest without), the room's socket recorded; back once it is connected."""
    page = new_page(**DESKTOP)
    page.set_default_timeout(TIMEOUT)
    page.add_init_script(RECORD_FRAMES)
    if email is None:
        page.goto(f"/lang/en?next=/live/{room_id}")
    else:
        page.goto(f"/login?next=/live/{room_id}")
        login(page, email)
    expect()(page).to_have_url(re.compile(rf"/live/{room_id}$"))
    expect()(page.get_by_test_id("live-room")).to_have_attribute("data-room-status", "live")
    expect()(page.get_by_test_id("live-like")).to_be_visible()  # shown when the socket opens
    expect()(page.get_by_test_id("live-viewers")).to_have_text(re.compile(r"^\d+$"))  # from the socket's hello
    return page


def send_chat(page, text: str) -> None:  # noqa: ANN001
    page.get_by_test_id("live-chat-input").fill(text)
    page.get_by_test_id("live-chat-send").click()
    expect()(page.get_by_test_id("live-chat-input")).to_have_value("")


def test_the_live_room_for_guests_and_shoppers(new_page, shot) -> None:  # noqa: ANN001
    # the guest finds the room that is live on the rooms list
    guest = new_page(**DESKTOP)
    guest.goto("/lang/en?next=/live")
    card = guest.get_by_test_id("live-section-live").get_by_test_id("live-room-card").filter(has_text=LIVE_TITLE)
    expect()(card).to_have_count(1)
    room_id = int(card.get_attribute("data-room-id"))
    guest.close()

    # 1. a guest and three signed-in shoppers on the room page
    guest = room_page(new_page, room_id)
    viewers = {who: room_page(new_page, room_id, email) for who, (email, _name) in SHOPPERS.items()}
    everyone = {"guest": guest, **viewers}
    expect()(guest.get_by_test_id("live-chat-form")).to_have_count(0)  # read-only: no chat form at all
    expect()(guest.get_by_test_id("live-chat-login")).to_be_visible()
    expect()(guest.get_by_test_id("live-chat-login")).to_have_attribute("href", f"/login?next=/live/{room_id}")
    for who, page in viewers.items():
        expect()(page.get_by_test_id("live-chat-form")).to_be_visible()  # unhidden once the socket is open
        expect()(page.get_by_test_id("live-chat-login")).to_have_count(0)
    for who, page in everyone.items():  # the viewer count, announced every 2 s when it changed
        expect()(page.get_by_test_id("live-viewers")).to_have_text(str(len(everyone)))
    pinned_before = guest.get_by_test_id("live-pin").evaluate_all("els => els.map(e => Number(e.dataset.productId))")
    assert len(pinned_before) == 2, f"the demo's live room has the oil and the cream pinned: {pinned_before}"
    shot(guest, "guest-opens-the-room")

    # 2. Lin says something; every page shows it, the guest's too
    run = uuid.uuid4().hex[:6]
    hello = f"Lin 来了 hello {run}"
    send_chat(viewers["lin"], hello)
    last_spoke = time.monotonic()
    for who, page in everyone.items():
        line = page.get_by_test_id("live-message").filter(has_text=hello)
        expect()(line).to_have_count(1)
        expect()(line.locator("b")).to_have_text(SHOPPERS["lin"][1])
    shot(guest, "guest-sees-lins-message")

    # 3. the three shoppers send at one instant: the room batches them into an array frame.
    # Each viewer may say one thing every 2 s: a round waits out the last one first.
    # A round whose messages happened to arrive more than 50 ms apart (a stalled machine)
    # is sent again, at most three times in all.
    burst: list[str] = []
    rounds: list[dict[str, Any]] = []
    for attempt in range(3):
        time.sleep(max(0.0, last_spoke + CHAT_INTERVAL + 0.2 - time.monotonic()))
        texts = {who: f"{who} #{attempt} {run} 想要!" for who in viewers}
        for who, page in viewers.items():
            page.get_by_test_id("live-chat-input").fill(texts[who])
        at = int(time.time() * 1000) + 400  # one wall clock for every page of the browser
        ahead = [page.evaluate(SUBMIT_AT, at) for page in viewers.values()]  # every timer set before it fires
        last_spoke = time.monotonic()
        ours = set(texts.values())
        for who, page in everyone.items():  # every page shows all three (rate limit respected: no error)
            expect()(page.get_by_test_id("live-message").filter(has_text=f"#{attempt} {run}")).to_have_count(3)
        for page in viewers.values():
            expect()(page.get_by_test_id("live-chat-error")).to_be_hidden()
        burst = chats_in_frames(guest, ours)
        assert sorted(burst) == sorted(ours), f"the guest's socket carried {burst}, not once each of {ours}"
        rounds.append({"ms before the timers fired": ahead, "order": burst})
        if batched(guest, ours):
            break
    else:
        pytest.fail(f"three messages sent at one instant never came as one array frame: {rounds}; last frames {frames(guest)[-12:]}")
    # every page shows them in the same order: the order the frames carried them
    for who, page in everyone.items():
        shown = [text for _name, text in page.evaluate(CHAT_LINES) if text in set(burst)]
        assert shown == burst, f"{who}'s page shows {shown}, the frames said {burst}"
        assert sorted(chats_in_frames(page, set(burst))) == sorted(burst), f"{who}'s socket lost one of {burst}"
    for who, text in texts.items():
        line = guest.get_by_test_id("live-message").filter(has_text=text)
        expect()(line.locator("b")).to_have_text(SHOPPERS[who][1])
    shot(guest, "guest-sees-the-burst")

    # 4. the brand pins a third product and launches the flash deal from the room console
    brand = new_page(**DESKTOP)
    portal_login(brand, BRAND_OWNER)
    brand.goto(f"/creator/live/rooms/{room_id}")
    expect()(brand.get_by_test_id("live-console")).to_have_attribute("data-room-status", "live")
    unpinned = brand.get_by_test_id("live-console-product").filter(has=brand.get_by_test_id("live-pin")).first
    product_id = int(unpinned.get_attribute("data-product-id"))
    product_title = unpinned.locator("strong").inner_text().strip()
    assert product_id not in pinned_before
    unpinned.get_by_test_id("live-pin").click()
    expect()(brand.get_by_test_id("notice")).to_be_visible()
    expect()(brand.locator(f'[data-testid=live-console-product][data-product-id="{product_id}"]').get_by_test_id("live-unpin")).to_be_visible()
    for who, page in everyone.items():  # no reload: the socket's "pins" swaps the panel in
        pin = page.locator(f'[data-testid=live-pin][data-product-id="{product_id}"]')
        expect()(pin).to_be_visible()
        expect()(pin).to_contain_text(product_title)
        expect()(page.get_by_test_id("live-pin")).to_have_count(3)
    shot(guest, "guest-sees-the-new-pin")

    deal_row = brand.get_by_test_id("live-console-deal").filter(has=brand.get_by_test_id("live-deal-launch")).first
    deal_id = int(deal_row.get_attribute("data-deal-id"))
    deal_row.get_by_test_id("live-deal-launch").click()
    expect()(brand.locator(f'[data-testid=live-console-deal][data-deal-id="{deal_id}"]')).to_have_attribute("data-state", "countdown")
    for who, page in everyone.items():
        deal = page.locator(f'[data-testid=live-deal][data-deal-id="{deal_id}"]')
        expect()(deal).to_have_attribute("data-state", "countdown")
        expect()(deal.get_by_test_id("live-deal-clock")).to_have_text(re.compile(r"^0:(0\d|10)$"))
        expect()(deal.get_by_test_id("live-deal-left")).to_contain_text("10")  # the demo's deal: 10 units
    clock = guest.locator(f'[data-testid=live-deal][data-deal-id="{deal_id}"]').get_by_test_id("live-deal-clock")
    first = clock.inner_text()
    expect()(clock).not_to_have_text(first, timeout=3_000)  # it ticks down in the browser
    expect()(guest.locator(f'[data-testid=live-deal][data-deal-id="{deal_id}"]').get_by_test_id("live-deal-left")).to_have_text("10 left")
    shot(guest, "guest-sees-the-deal")
    shot(brand, "brand-console")

    # 5. the guest taps Like three times: every page's count goes up by three
    likes_before = int(guest.get_by_test_id("live-likes").inner_text())
    for who, page in viewers.items():
        assert int(page.get_by_test_id("live-likes").inner_text()) == likes_before, f"{who} sees another like count"
    for _ in range(3):
        guest.get_by_test_id("live-like").click()
    for who, page in everyone.items():
        expect()(page.get_by_test_id("live-likes")).to_have_text(str(likes_before + 3))
    viewers["lin"].get_by_test_id("live-like").click()
    for who, page in everyone.items():
        expect()(page.get_by_test_id("live-likes")).to_have_text(str(likes_before + 4))
    shot(guest, "guest-liked")

    # 6. the countdown is over: every open page's card turns buyable without a reload
    #    (the room announces the deal running when its countdown ends)
    for who, page in everyone.items():
        deal = page.locator(f'[data-testid=live-deal][data-deal-id="{deal_id}"]')
        expect()(deal).to_have_attribute("data-state", "running", timeout=20_000)
        expect()(deal.get_by_test_id("live-deal-buy")).to_be_visible()
    shot(guest, "guest-can-grab-the-deal")

    # nothing went wrong on the way: one socket per page (no reconnects)
    for who, page in everyone.items():
        assert page.evaluate("() => window.__roomSockets") == 1, f"{who}'s page reconnected its room socket"

    # 8. the guest's connection drops: the page connects again by itself, fetches the
    #    panel afresh (pins and deals may have changed meanwhile), and the recent chat the
    #    new hello repeats is not shown twice
    shown = guest.evaluate(CHAT_LINES)
    with guest.expect_request(re.compile(rf"/live/{room_id}/panel")):
        guest.evaluate("() => window.__roomSocket.close()")
    expect()(guest.get_by_test_id("live-like")).to_be_visible()
    assert guest.evaluate("() => window.__roomSockets") == 2
    assert guest.evaluate(CHAT_LINES) == shown
    send_chat(viewers["zhou"], "你回来了 welcome back")
    expect()(guest.get_by_test_id("live-messages")).to_contain_text("你回来了 welcome back")
