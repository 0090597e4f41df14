"""The shopper's live pages: the rooms list, a room (video, pinned products, deals with Buy,
chat for the signed in), buying from a deal through the address form to the payment page,
the panel the script swaps in, and the replay's chapters."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.orders.models import Checkout
from core.testing import ADDRESS, html_login, post_form
from plugins.live import service
from tests.plugins.live.helpers import launched_and_running, live_room, make_deal, set_times


async def test_the_rooms_list_and_a_room_page(zc_client, zc_runtime, zc_make_user, zc_make_product):
    room, variant, owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    async with zc_runtime.db.session() as s:
        await service.pin(s, owner, room.id, variant.product_id)
        upcoming = await service.create_room(s, zc_runtime, owner, "live-brand", title="下周新品 Next week's launch")
        await s.commit()
    deal = await make_deal(zc_runtime, owner, room.id, variant.id, quantity=4)
    await launched_and_running(zc_runtime, owner, deal.id)

    en = {"accept-language": "en"}
    index = await zc_client.get("/live", headers=en)
    assert index.status_code == 200 and 'data-testid="live-index"' in index.text
    live_section = index.text.split('data-testid="live-section-live"')[1].split("</section>")[0]
    assert f'data-room-id="{room.id}"' in live_section and "LIVE" in live_section
    coming = index.text.split('data-testid="live-section-scheduled"')[1].split("</section>")[0]
    assert f'data-room-id="{upcoming.id}"' in coming

    page = await zc_client.get(f"/live/{room.id}", headers=en)
    assert page.status_code == 200 and 'data-testid="live-room"' in page.text
    assert f'data-src="{room.playback_url}"' in page.text and "/live/static/vendor/hls.light.min.js" in page.text
    assert f'data-product-id="{variant.product_id}"' in page.text and 'data-testid="live-deal-buy"' in page.text
    assert "¥59.00" in page.text and "¥99.00" in page.text and "4 left" in page.text
    assert 'data-testid="live-chat-login"' in page.text and 'data-testid="live-chat-form"' not in page.text  # a guest watches
    assert (await zc_client.get("/live/static/live.js")).status_code == 200
    panel = await zc_client.get(f"/live/{room.id}/panel")
    assert panel.status_code == 200 and 'data-testid="live-panel"' in panel.text and "<html" not in panel.text
    assert (await zc_client.get("/live/999999")).status_code == 404
    zh = await zc_client.get(f"/live/{room.id}", headers={"accept-language": "zh-CN"})
    assert "限时秒杀" in zh.text and "正在讲解" in zh.text


async def test_buying_from_a_deal_through_the_pages(zc_client, zc_runtime, zc_make_user, zc_make_product):
    room, variant, owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    deal = await make_deal(zc_runtime, owner, room.id, variant.id, quantity=1, per_customer_limit=1)
    await launched_and_running(zc_runtime, owner, deal.id)

    guest = await zc_client.post(f"/live/deals/{deal.id}/buy", data={"start": "1"}, follow_redirects=False)
    assert guest.status_code in (303, 403)  # a guest is sent to sign in (or refused without the CSRF token)
    shopper = await zc_make_user()
    await html_login(zc_client, shopper.email)
    form = await post_form(zc_client, f"/live/deals/{deal.id}/buy", {"start": "1"})
    assert form.status_code == 200 and 'data-testid="live-buy-form"' in form.text
    bad = await post_form(zc_client, f"/live/deals/{deal.id}/buy", {"quantity": "1", **{k: "" for k in ADDRESS}})
    assert bad.status_code == 422 and 'data-testid="live-buy-error"' in bad.text
    done = await post_form(zc_client, f"/live/deals/{deal.id}/buy", {"quantity": "1", **ADDRESS})
    assert done.status_code == 303 and re.fullmatch(r"/checkout/[0-9a-f-]{36}", done.headers["location"])
    async with zc_runtime.db.read_session() as s:
        checkout = (await s.execute(select(Checkout).where(Checkout.token == done.headers["location"].rsplit("/", 1)[1]))).scalar_one()
        assert checkout.total_minor == 5900
    # the only unit is held: the next buyer sees it sold out, in her language
    other = await zc_make_user()
    zc_client.cookies.clear()
    await html_login(zc_client, other.email)
    sold = await post_form(zc_client, f"/live/deals/{deal.id}/buy", {"quantity": "1", **ADDRESS}, headers={"accept-language": "zh-CN"})
    assert sold.status_code == 409 and "抢光" in sold.text
    # once the deal is over, the form is gone
    await set_times(zc_runtime, deal.id, starts_in=-200, ends_in=-1)
    over = await post_form(zc_client, f"/live/deals/{deal.id}/buy", {"start": "1"}, headers={"accept-language": "en"})
    assert 'data-testid="live-buy-form"' not in over.text and "已结束" in over.text  # her account's language


async def test_the_replay_has_product_chapters(zc_client, zc_runtime, zc_make_user, zc_make_product):
    room, variant, owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    second = await zc_make_product("live-brand", title="Second product")
    async with zc_runtime.db.session() as s:
        await service.pin(s, owner, room.id, variant.product_id)
        await service.pin(s, owner, room.id, second.product_id)
        await service.end_room(s, zc_runtime, owner, room.id)
        await s.commit()
    replay = await zc_client.get(f"/live/{room.id}/replay", headers={"accept-language": "en"})
    assert replay.status_code == 200
    chapters = re.findall(r'data-testid="live-chapter" data-start="(\d+)"', replay.text)
    assert len(chapters) == 2 and "Second product" in replay.text and 'data-testid="live-chapter-buy"' in replay.text
    ended = await zc_client.get(f"/live/{room.id}")
    assert 'data-testid="live-replay-link"' in ended.text
