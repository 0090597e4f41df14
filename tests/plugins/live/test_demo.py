"""The live demo: Mia is on air with two pins and a deal to launch; her earlier room's
flash deal sold out exactly (two units, two buyers) and its replay has product chapters."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from plugins.live import service
from plugins.live.demo import LIVE_TITLE, REPLAY_TITLE
from plugins.live.models import DealClaim, LiveRoom


@pytest.mark.zc_demo  # starts on the seeded demo; its own seed then finds everything there
async def test_the_demo_has_a_room_on_air_and_a_sold_out_replay(zc_client, zc_runtime):
    from core.cli import seed

    await seed(zc_runtime)  # again: nothing twice
    async with zc_runtime.db.read_session() as s:
        rooms = {r.title: r for r in (await s.execute(select(LiveRoom).where(LiveRoom.title.in_((LIVE_TITLE, REPLAY_TITLE))))).scalars()}
        assert set(rooms) == {LIVE_TITLE, REPLAY_TITLE}
        on_air, replay = rooms[LIVE_TITLE], rooms[REPLAY_TITLE]
        assert on_air.status == "live" and len(on_air.pinned) == 2
        [ready] = await service.deals_of_room(s, on_air.id)
        assert service.deal_state(ready, ready.created_at) == "ready" and await service.units_left(s, ready) == 10

        assert replay.status == "ended"
        [sold] = await service.deals_of_room(s, replay.id)
        assert await service.units_sold(s, sold) == sold.quantity == 2 and sold.returned == 0
        buyers = (await s.execute(select(DealClaim.user_id).where(DealClaim.deal_id == sold.id, DealClaim.status != "closed"))).scalars().all()
        assert len(set(buyers)) == 2
        chapters = service.chapters(await service.timeline(s, replay.id))
        assert len(chapters) == 2 and chapters[0].start_ms == 120_000 and chapters[0].deal_id is None

    # Lin follows Mia: she was told Mia went live (and of the earlier room too, when the
    # seed's events were handled while it was still on air)
    from core.auth.models import User
    from core.notices.models import Notice
    from tests.plugins.live.helpers import handled

    await handled(zc_runtime, "live.room_live")
    async with zc_runtime.db.read_session() as s:
        lin = (await s.execute(select(User.id).where(User.email == "shopper@demo.zhongcao.dev"))).scalar_one()
        urls = (await s.execute(select(Notice.url).where(Notice.user_id == lin, Notice.kind == "live.room_live"))).scalars().all()
        assert f"/live/{on_air.id}" in urls and set(urls) <= {f"/live/{on_air.id}", f"/live/{replay.id}"}

    index = await zc_client.get("/live", headers={"accept-language": "en"})
    assert "今晚护肤直播" in index.text and REPLAY_TITLE in index.text
    page = await zc_client.get(f"/live/{replay.id}/replay", headers={"accept-language": "en"})
    assert page.text.count('data-testid="live-chapter"') == 2 and "2:00" in page.text
