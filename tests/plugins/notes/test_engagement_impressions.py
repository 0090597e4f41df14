"""Impressions are buffered in process and written in batches: a feed view is not a
write storm, and the flushed counts are exact."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager

from litestar.testing import AsyncTestClient
from sqlalchemy import event, select

from core.app import create_app
from plugins.notes import engagement
from plugins.notes.models import Impression, Note
from tests.plugins.notes.engagement_helpers import make_note


@contextmanager
def writes(runtime):
    """Count the INSERT/UPDATE/DELETE statements sent to the database (an executemany is one)."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            seen.append(statement)

    engine = runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def _impressions(runtime) -> dict[tuple[int, int], int]:
    async with runtime.db.read_session() as session:
        return {(i.user_id, i.note_id): i.count for i in (await session.execute(select(Impression))).scalars()}


async def _note_counts(runtime, note_ids) -> dict[int, int]:
    async with runtime.db.read_session() as session:
        return dict((await session.execute(select(Note.id, Note.impression_count).where(Note.id.in_(note_ids)))).all())


async def test_many_cards_make_a_few_writes_and_exact_counts(zc_runtime, zc_make_user):
    author = await zc_make_user("author@example.com")
    viewers = [await zc_make_user(f"viewer{i}@example.com") for i in range(5)]
    notes = [await make_note(zc_runtime, author.id) for _ in range(40)]
    buffer = engagement.impression_buffer(zc_runtime)
    buffer.flush_seconds, buffer.max_pending = 3600, 10_000  # only the explicit flush writes here

    with writes(zc_runtime) as seen:
        # 5 viewers scroll 4 pages of 20 cards each; every page shows the first 10 notes again
        for v in viewers:
            for page in range(4):
                await engagement.record_impressions(zc_runtime, v.id, notes[:10] + notes[10 + page * 5: 10 + page * 5 + 10])
        await engagement.record_impressions(zc_runtime, None, notes[:3])  # a logged-out viewer
        assert seen == []  # nothing written while buffering
        assert buffer.pending == 5 * 4 * 20 + 3
        written = await engagement.flush_impressions(zc_runtime)
    cards = 5 * 4 * 20 + 3
    assert written == cards
    assert len(seen) <= 3, seen  # one upsert and one counter update (executemany) for 403 cards

    rows = await _impressions(zc_runtime)
    assert sum(rows.values()) == 5 * 4 * 20 and len(rows) == 5 * 35  # notes 0-9 and 10-34
    assert all(rows[(v.id, n)] == 4 for v in viewers for n in notes[:10])
    assert rows[(viewers[0].id, notes[15])] == 2  # pages 1 and 2 both showed it
    counts = await _note_counts(zc_runtime, notes)
    assert sum(counts.values()) == cards
    assert counts[notes[0]] == 5 * 4 + 1 and counts[notes[39]] == 0

    # a second round adds to the same rows (upsert), and last_at moves
    await engagement.record_impressions(zc_runtime, viewers[0].id, [notes[0], notes[0], 10**12])  # an unknown note is dropped
    assert await engagement.flush_impressions(zc_runtime) == 2
    assert (await _impressions(zc_runtime))[(viewers[0].id, notes[0])] == 6
    assert (await _note_counts(zc_runtime, [notes[0]]))[notes[0]] == 23
    assert await engagement.flush_impressions(zc_runtime) == 0  # nothing left


async def test_a_full_buffer_flushes_in_the_background(zc_runtime, zc_make_user):
    author = await zc_make_user("author@example.com")
    viewer = await zc_make_user("viewer@example.com")
    notes = [await make_note(zc_runtime, author.id) for _ in range(30)]
    buffer = engagement.impression_buffer(zc_runtime)
    buffer.flush_seconds, buffer.max_pending = 3600, 25
    await engagement.record_impressions(zc_runtime, viewer.id, notes[:20])
    assert buffer.pending == 20
    await engagement.record_impressions(zc_runtime, viewer.id, notes[20:])  # 30 pairs >= 25: flush
    await buffer.wait()
    assert buffer.pending == 0
    assert sum((await _note_counts(zc_runtime, notes)).values()) == 30


async def test_the_app_flushes_on_a_timer_and_at_shutdown(zc_runtime, zc_make_user, monkeypatch):
    author = await zc_make_user("author@example.com")
    viewer = await zc_make_user("viewer@example.com")
    notes = [await make_note(zc_runtime, author.id) for _ in range(4)]
    buffer = engagement.impression_buffer(zc_runtime)
    buffer.flush_seconds, buffer.max_pending = 0.2, 10_000
    async with AsyncTestClient(app=create_app(runtime=zc_runtime)):
        await engagement.record_impressions(zc_runtime, viewer.id, notes[:2])
        for _ in range(50):
            await asyncio.sleep(0.1)
            if buffer.pending == 0:
                break
        assert buffer.pending == 0  # the timer wrote them
        buffer.flush_seconds = 3600
        await asyncio.sleep(0.3)  # the timer is asleep for an hour now
        await engagement.record_impressions(zc_runtime, viewer.id, notes)
        assert buffer.pending == 4
    assert buffer.pending == 0  # shutdown wrote the rest
    assert await _note_counts(zc_runtime, notes) == {notes[0]: 2, notes[1]: 2, notes[2]: 1, notes[3]: 1}
