"""The notes demo (issue 5's "done when"): creators with image notes that tag products,
and a purchase from a note credited to its author with a commission. Seeded twice, as
`zhongcao demo` does on every start."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.campaigns.models import Attribution, Commission, CreatorProfile
from core.cli import seed
from core.testing import api_token
from plugins.notes.demo import DEMO_NOTES, LIP_BALM_NOTE, SPONSORED_NOTE
from plugins.notes.models import Note, NoteImage, NotesProfile, ProductTag
from tests.plugins.notes.notes_helpers import API, count


@pytest.mark.zc_demo  # starts on the seeded demo; its own seed then finds everything there
async def test_the_demo_creators_post_notes_and_one_sells_the_cream(zc_client, zc_runtime):
    await seed(zc_runtime)
    await seed(zc_runtime)  # idempotent
    assert await count(zc_runtime, Note) == len(DEMO_NOTES)
    assert await count(zc_runtime, NoteImage) == sum(n[4] for n in DEMO_NOTES)
    assert await count(zc_runtime, ProductTag) == sum(len(n[3]) for n in DEMO_NOTES)

    for handle in ("mia.skin", "leo.trails", "jun.tea"):
        titles = sum(1 for n in DEMO_NOTES if n[0] == handle)
        page = (await zc_client.get(f"{API}/users/{handle}/notes?limit=50")).json()
        assert len(page["items"]) == titles and all(c["cover"] for c in page["items"]), handle
    # Mia's cream note: published, with its products pinned, labelled sponsored by itself
    async with zc_runtime.db.read_session() as s:
        mia_id = (await s.execute(select(CreatorProfile.user_id).where(CreatorProfile.handle == "mia.skin"))).scalar_one()
        note_id = (await s.execute(select(Note.id).where(Note.author_user_id == mia_id, Note.title == SPONSORED_NOTE))).scalar_one()
        others = (await s.execute(select(Note.title, Note.sponsored).where(Note.id != note_id))).all()
        profiles = dict((await s.execute(select(NotesProfile.handle, NotesProfile.follower_count))).all())
    note = (await zc_client.get(f"{API}/{note_id}")).json()
    assert (note["status"], note["sponsored"], note["sponsored_label"]["zh-CN"], [b["slug"] for b in note["sponsors"]]) == ("published", True, "广告", ["camellia-skin"])
    assert [p["sku"] for p in note["products"]] == ["CS-CREAM-50", "CS-OIL-150"] and note["products"][0]["x_ppm"] == 520_000
    assert [t["key"] for t in note["topics"]] == ["夜间修护", "护肤", "敏感肌"] and note["location"]["city"] == "上海"
    camellia = {n[1] for n in DEMO_NOTES if n[0] in ("mia.skin", "jun.tea") and n[1] != SPONSORED_NOTE and any(sku.startswith("CS-") for sku, *_ in n[3])}
    assert {t for t, sponsored in others if sponsored} == camellia and {"通勤包里的小确幸", LIP_BALM_NOTE} <= camellia  # Camellia products too (Jun collaborates too)
    jun_note = (await zc_client.get(f"{API}/topics/冷泡茶")).json()["items"][0]
    assert [m["handle"] for m in (await zc_client.get(f"{API}/{jun_note['id']}")).json()["mentions"]] == ["mia.skin"]
    # the audiences the demo creators brought, and Lin's real follow of Mia on top
    assert {h: profiles[h] for h in ("mia.skin", "leo.trails", "jun.tea")} == {"mia.skin": 48_001, "leo.trails": 6_200, "jun.tea": 210_000}

    # Lin bought the cream from the note: Mia's, as a note sale, with a 12% commission (15% for a new buyer)
    async with zc_runtime.db.read_session() as s:
        [attr] = (await s.execute(select(Attribution).where(Attribution.source == "note"))).scalars().all()
        commission = (await s.execute(select(Commission).where(Commission.order_line_id == attr.order_line_id))).scalar_one()
    assert (attr.creator_user_id, attr.ref, attr.blocked_reason) == (mia_id, str(note_id), None)
    assert commission.creator_user_id == mia_id and commission.amount_minor == commission.base_minor * commission.rate_ppm // 1_000_000 > 0

    # the creator cards now show figures computed by the notes plugin; the tiers hold
    items = (await zc_client.get("/api/v1/creators")).json()["items"]
    assert [(c["handle"], c["tier"]) for c in items] == [("jun.tea", "mid"), ("mia.skin", "micro"), ("leo.trails", "koc")]
    mia = await api_token(zc_client, "creator@demo.zhongcao.dev", "zhongcao-demo")
    assert (await zc_client.get("/api/v1/me/creator-profile", headers=mia)).json()["profile"]["stats_source"] == "notes"
