"""Counters stay exact under concurrency: many likes, unlikes, collects and follows at once,
by the same and by different users, through separate sessions and through the API."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from plugins.notes import engagement, profiles
from plugins.notes.models import Board, Collect, Follow, Like, NotesProfile
from tests.plugins.notes.engagement_helpers import API, count, events, make_note, note_row, person


async def _in_own_session(runtime, fn, *args, **kwargs):
    async with runtime.db.session() as session:
        result = await fn(session, runtime, *args, **kwargs)
        await session.commit()
        return result


async def test_concurrent_likes_and_unlikes_by_the_same_and_different_users_count_exactly(zc_runtime, zc_make_user):
    author = await zc_make_user("author@example.com")
    fans = [await zc_make_user(f"fan{i}@example.com") for i in range(8)]
    note = await make_note(zc_runtime, author.id)

    # every fan likes three times at once
    await asyncio.gather(*(_in_own_session(zc_runtime, engagement.like_note, f.id, note) for f in fans for _ in range(3)))
    assert (await note_row(zc_runtime, note)).like_count == 8 == await count(zc_runtime, Like)

    # half take their like back (twice each) while the other half like again
    await asyncio.gather(
        *(_in_own_session(zc_runtime, engagement.unlike_note, f.id, note) for f in fans[:4] for _ in range(2)),
        *(_in_own_session(zc_runtime, engagement.like_note, f.id, note) for f in fans[4:] for _ in range(2)),
    )
    assert (await note_row(zc_runtime, note)).like_count == 4 == await count(zc_runtime, Like)
    async with zc_runtime.db.read_session() as session:
        assert (await session.get(NotesProfile, author.id)).likes_received == 4
    assert len(await events(zc_runtime, "note.liked")) == 8
    assert len(await events(zc_runtime, "note.unliked")) == 4


async def test_concurrent_likes_through_the_api(zc_client, zc_make_user, zc_runtime):
    author = await person(zc_client, zc_make_user, "author")
    fans = [await person(zc_client, zc_make_user, f"fan{i}") for i in range(5)]
    note = await make_note(zc_runtime, author.id)
    answers = await asyncio.gather(*(zc_client.post(f"{API}/{note}/like", headers=f.auth) for f in fans for _ in range(4)))
    assert {r.status_code for r in answers} == {200}
    assert max(r.json()["like_count"] for r in answers) == 5
    assert (await note_row(zc_runtime, note)).like_count == 5 == await count(zc_runtime, Like)
    answers = await asyncio.gather(*(zc_client.delete(f"{API}/{note}/like", headers=f.auth) for f in fans[:3] for _ in range(3)))
    assert {r.status_code for r in answers} == {200}
    assert (await note_row(zc_runtime, note)).like_count == 2 == await count(zc_runtime, Like)


async def test_concurrent_collects_into_different_boards_save_the_note_once(zc_runtime, zc_make_user):
    author = await zc_make_user("author@example.com")
    fan = await zc_make_user("fan@example.com")
    note = await make_note(zc_runtime, author.id)
    async with zc_runtime.db.session() as session:
        boards = [(await engagement.create_board(session, fan.id, name)).id for name in ("A", "B", "C")]
        await session.commit()
    states = await asyncio.gather(*(_in_own_session(zc_runtime, engagement.collect_note, fan.id, note, board_id=b) for b in boards for _ in range(2)))
    assert all(s.collected for s in states)
    assert (await note_row(zc_runtime, note)).collect_count == 1 == await count(zc_runtime, Collect)
    async with zc_runtime.db.read_session() as session:
        where = (await session.execute(select(Collect.board_id))).scalar_one()
        counts = dict((await session.execute(select(Board.id, Board.note_count))).all())
        assert counts == {b: (1 if b == where else 0) for b in boards}
        assert (await session.get(NotesProfile, author.id)).likes_received == 1
    assert len(await events(zc_runtime, "note.collected")) == 1


async def test_concurrent_follows_both_ways_count_exactly(zc_runtime, zc_make_user):
    users = [await zc_make_user(f"p{i}@example.com") for i in range(4)]
    async with zc_runtime.db.session() as session:
        handles = {u.id: (await profiles.ensure_profile(session, u.id)).handle for u in users}
        await session.commit()

    async def follow(a, b):
        async with zc_runtime.db.session() as session:
            await profiles.follow(session, zc_runtime, a.id, handles[b.id])
            await session.commit()

    # everyone follows everyone else, each twice, all at once (pairs both ways)
    await asyncio.gather(*(follow(a, b) for a in users for b in users if a is not b for _ in range(2)))
    assert await count(zc_runtime, Follow) == 12
    async with zc_runtime.db.read_session() as session:
        for p in (await session.execute(select(NotesProfile))).scalars():
            assert (p.follower_count, p.following_count) == (3, 3)
        assert (await session.execute(select(func.count()).select_from(Follow))).scalar_one() == 12
    assert len(await events(zc_runtime, "user.followed")) == 12


async def test_concurrent_replies_and_comment_likes_count_exactly(zc_runtime, zc_make_user):
    from plugins.notes.models import Comment, CommentLike

    author = await zc_make_user("author@example.com")
    people = [await zc_make_user(f"c{i}@example.com") for i in range(6)]
    note = await make_note(zc_runtime, author.id)
    top = await _in_own_session(zc_runtime, engagement.add_comment, author.id, note, "第一")
    replies = await asyncio.gather(*(_in_own_session(zc_runtime, engagement.add_comment, p.id, note, f"回复 {i}", parent_id=top.id) for i, p in enumerate(people)))

    async def like(p):
        async with zc_runtime.db.session() as session:
            await engagement.like_comment(session, p.id, top.id)
            await session.commit()

    await asyncio.gather(*(like(p) for p in people for _ in range(3)))
    async with zc_runtime.db.read_session() as session:
        row = await session.get(Comment, top.id)
        assert (row.reply_count, row.like_count) == (6, 6)
    assert await count(zc_runtime, CommentLike) == 6
    assert (await note_row(zc_runtime, note)).comment_count == 7

    # three replies are deleted by their authors while the thread's owner deletes the thread
    class Who:
        def __init__(self, user_id):
            self.user_id, self.is_staff = user_id, False

    async def remove(user_id, comment_id):
        async with zc_runtime.db.session() as session:
            try:
                await engagement.delete_comment(session, zc_runtime, Who(user_id), comment_id)
                await session.commit()
            except Exception as exc:  # noqa: BLE001 - the thread may be gone first: 404
                assert getattr(exc, "status_code", None) == 404, exc

    await asyncio.gather(*(remove(p.id, r.id) for p, r in zip(people[:3], replies[:3], strict=True)), remove(author.id, top.id))
    assert (await note_row(zc_runtime, note)).comment_count == 0
    assert await count(zc_runtime, Comment, Comment.status == "visible") == 0
