"""Synthetic interaction data for the offline evaluation: `zhongcao feed generate`.

SYNTHETIC, NOT REAL BEHAVIOUR. Users, creators, notes and interactions are drawn from a
simple model with planted preferences, so the evaluation can check that the ranker
recovers them; figures measured on this data say nothing about real shoppers.

The model:
- `topics` topics; each creator writes mostly on one topic (sometimes a second one);
- each note has a hidden quality q (Beta(2, 5));
- each user has 2 preferred topics (the planted preference) and follows 3 creators of
  those topics;
- a user sees `views` notes, each at a random time t of the `days` window, drawn from
  the notes published in the 7 days before t: half at random, half in proportion to the
  engagement they had so far (a popularity loop, as a feed would make);
- a seen note is liked with p = 0.5 * q * (3 if it carries a preferred topic else 0.25),
  collected with 0.4 p and commented with 0.2 p, at t; every view is an impression.

Everything is written with set-based inserts; accounts get an unusable password and
emails under @synthetic.zhongcao.invalid, titles start with "syn". Counters on notes,
topics and profiles are set from the rows written, as the notes plugin keeps them.
"""

from __future__ import annotations

import bisect
import random
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from core.db import utcnow

if TYPE_CHECKING:
    from core.runtime import Runtime

TOPIC_NAMES = (
    "skincare", "makeup", "hiking", "tea", "coffee", "baking", "travel", "fashion", "fitness", "photo",
    "books", "pets", "camping", "perfume", "haircare", "cycling", "ceramics", "vintage", "gardening", "films",
)  # fmt: skip
EMAIL_DOMAIN = "synthetic.zhongcao.invalid"


@dataclass
class Generated:
    run: str
    users: int
    creators: int
    topics: int
    notes: int
    impressions: int
    likes: int
    collects: int
    comments: int
    follows: int


async def _chunked(session, table, rows: list[dict], chunk: int = 2_000) -> None:
    for i in range(0, len(rows), chunk):
        await session.execute(insert(table), rows[i : i + chunk])


async def generate(runtime: Runtime, *, users: int = 300, creators: int = 40, topics: int = 12, notes: int = 1500, views: int = 120, days: int = 30, seed: int = 7) -> Generated:
    from core.auth.models import User, UserRole
    from plugins.notes.models import (
        Board,
        Collect,
        Comment,
        Follow,
        Impression,
        Like,
        Note,
        NotesProfile,
        NoteTopic,
        Topic,
    )

    if not 1 <= topics <= len(TOPIC_NAMES):
        raise ValueError(f"topics must lie within 1..{len(TOPIC_NAMES)}")
    rng = random.Random(seed)
    run = secrets.token_hex(3)
    now = utcnow()
    start = now - timedelta(days=days)

    async with runtime.db.session() as session:
        # -- topics (shared between runs: one per name)
        names = TOPIC_NAMES[:topics]
        keys = [f"syn-{n}" for n in names]
        existing = {t.key: t.id for t in (await session.execute(select(Topic).where(Topic.key.in_(keys)))).scalars()}
        missing = [{"key": k, "name": k, "note_count": 0} for k in keys if k not in existing]
        if missing:
            await _chunked(session, Topic.__table__, missing)
            existing = {t.key: t.id for t in (await session.execute(select(Topic).where(Topic.key.in_(keys)))).scalars()}
        topic_ids = [existing[k] for k in keys]

        # -- accounts: creators first, then shoppers
        total = creators + users
        await _chunked(session, User.__table__, [
            {"email": f"syn-{run}-{i}@{EMAIL_DOMAIN}", "password_hash": "!synthetic-no-login", "display_name": f"Synthetic {i}",
             "locale": "en", "is_active": True, "auth_epoch": 0, "created_at": start, "updated_at": start}
            for i in range(total)
        ])  # fmt: skip
        ids = {e: i for e, i in (await session.execute(select(User.email, User.id).where(User.email.like(f"syn-{run}-%")))).all()}
        account = [ids[f"syn-{run}-{i}@{EMAIL_DOMAIN}"] for i in range(total)]
        creator_ids, user_ids = account[:creators], account[creators:]
        await _chunked(session, UserRole.__table__, [{"user_id": c, "role": "creator"} for c in creator_ids])
        creator_topic = {c: rng.randrange(topics) for c in creator_ids}

        # -- notes
        note_rows, note_meta = [], []
        for i in range(notes):
            author = rng.choice(creator_ids)
            main = creator_topic[author]
            tset = {main} | ({rng.randrange(topics)} if rng.random() < 0.3 else set())
            at = start + timedelta(seconds=rng.uniform(0, days * 86_400))
            note_rows.append({
                "author_user_id": author, "kind": "image", "title": f"syn {names[main][:10]} {i}", "body": "synthetic note",
                "status": "published", "visibility": "public", "published_at": at, "sponsored": False, "sponsored_brand_ids": [],
                "moderation": "allow", "moderation_reasons": [], "version": 1, "created_at": at, "updated_at": at,
            })  # fmt: skip
            note_meta.append((author, at, sorted(tset), rng.betavariate(2, 5)))
        first_id = (await session.execute(select(Note.id).order_by(Note.id.desc()).limit(1))).scalar() or 0
        await _chunked(session, Note.__table__, note_rows)
        rows = (await session.execute(select(Note.id, Note.title).where(Note.id > first_id, Note.author_user_id.in_(creator_ids)).order_by(Note.id))).all()
        by_title = {r.title: r.id for r in rows}
        note_ids = [by_title[r["title"]] for r in note_rows]
        await _chunked(session, NoteTopic.__table__, [{"note_id": nid, "topic_id": topic_ids[t]} for nid, meta in zip(note_ids, note_meta) for t in meta[2]])

        # -- preferences, follows
        prefs = {u: set(rng.sample(range(topics), min(2, topics))) for u in user_ids}
        follow_rows = []
        for u in user_ids:
            liked_creators = [c for c in creator_ids if creator_topic[c] in prefs[u]] or creator_ids
            for c in rng.sample(liked_creators, min(3, len(liked_creators))):
                follow_rows.append({"follower_user_id": u, "followee_user_id": c, "created_at": start})
        await _chunked(session, Follow.__table__, follow_rows)

        # -- views and engagement, in time order so popularity feeds back
        order = sorted(range(notes), key=lambda i: note_meta[i][1])
        published = [note_meta[i][1] for i in order]
        views_list = sorted(((start + timedelta(seconds=rng.uniform(0, days * 86_400)), u) for u in user_ids for _ in range(views)), key=lambda x: x[0])
        engaged = [0] * notes
        impressions: dict[tuple[int, int], list] = {}
        likes, collects, comments = {}, {}, []
        for at, u in views_list:
            hi = bisect.bisect_right(published, at)
            lo = bisect.bisect_left(published, at - timedelta(days=7))
            if hi <= lo:
                continue
            if rng.random() < 0.5:
                idx = order[rng.randrange(lo, hi)]
            else:
                window = order[lo:hi]
                idx = rng.choices(window, weights=[engaged[j] + 1 for j in window])[0]
            key = (u, idx)
            if key in impressions:
                impressions[key][0] += 1
                impressions[key][2] = at
                continue
            impressions[key] = [1, at, at]
            _author, _pub, tset, q = note_meta[idx]
            p = 0.5 * q * (3.0 if prefs[u] & set(tset) else 0.25)
            if rng.random() < p:
                likes[key] = at
                engaged[idx] += 1
            if rng.random() < 0.4 * p:
                collects[key] = at
                engaged[idx] += 2
            if rng.random() < 0.2 * p:
                comments.append((u, idx, at))
                engaged[idx] += 1

        await _chunked(session, Impression.__table__, [
            {"user_id": u, "note_id": note_ids[i], "count": c, "first_at": f, "last_at": last} for (u, i), (c, f, last) in impressions.items()
        ])  # fmt: skip
        await _chunked(session, Like.__table__, [{"user_id": u, "note_id": note_ids[i], "created_at": at} for (u, i), at in likes.items()])
        collectors = sorted({u for u, _ in collects})
        if collectors:
            await _chunked(session, Board.__table__, [{"owner_user_id": u, "name": "synthetic", "private": False, "note_count": 0, "created_at": start} for u in collectors])
            boards = dict((await session.execute(select(Board.owner_user_id, Board.id).where(Board.owner_user_id.in_(collectors), Board.name == "synthetic"))).all())
            await _chunked(session, Collect.__table__, [{"user_id": u, "note_id": note_ids[i], "board_id": boards[u], "created_at": at} for (u, i), at in collects.items()])
        await _chunked(session, Comment.__table__, [
            {"note_id": note_ids[i], "author_user_id": u, "parent_id": None, "body": "synthetic comment", "status": "visible", "like_count": 0, "reply_count": 0, "created_at": at}
            for u, i, at in comments
        ])  # fmt: skip

        # -- counters, as the notes plugin keeps them
        counts: dict[int, list[int]] = {nid: [0, 0, 0, 0] for nid in note_ids}
        for (_u, i) in likes:
            counts[note_ids[i]][0] += 1
        for (_u, i) in collects:
            counts[note_ids[i]][1] += 1
        for _u, i, _at in comments:
            counts[note_ids[i]][2] += 1
        for (_u, i), (c, _f, _l) in impressions.items():
            counts[note_ids[i]][3] += c
        for nid, (lk, co, cm, im) in counts.items():
            if lk or co or cm or im:
                await session.execute(update(Note).where(Note.id == nid).values(like_count=lk, collect_count=co, comment_count=cm, impression_count=im))
        per_topic: dict[int, int] = {}
        for meta in note_meta:
            for t in meta[2]:
                per_topic[topic_ids[t]] = per_topic.get(topic_ids[t], 0) + 1
        for tid, n in per_topic.items():
            await session.execute(update(Topic).where(Topic.id == tid).values(note_count=Topic.note_count + n))
        followers: dict[int, int] = {}
        for r in follow_rows:
            followers[r["followee_user_id"]] = followers.get(r["followee_user_id"], 0) + 1
        notes_by: dict[int, int] = {}
        received: dict[int, int] = {}
        for nid, meta in zip(note_ids, note_meta):
            notes_by[meta[0]] = notes_by.get(meta[0], 0) + 1
            received[meta[0]] = received.get(meta[0], 0) + counts[nid][0] + counts[nid][1]
        following = {u: sum(1 for r in follow_rows if r["follower_user_id"] == u) for u in user_ids}
        await _chunked(session, NotesProfile.__table__, [
            {"user_id": a, "handle": f"syn{run}{'c' if a in creator_topic else 'u'}{a}", "bio": "synthetic account", "avatar_path": None,
             "follower_count": followers.get(a, 0), "following_count": following.get(a, 0), "note_count": notes_by.get(a, 0),
             "likes_received": received.get(a, 0), "banned_until": None, "ban_reason": "", "created_at": start}
            for a in account
        ])  # fmt: skip
        await session.commit()
    return Generated(
        run=run, users=users, creators=creators, topics=topics, notes=notes, impressions=len(impressions),
        likes=len(likes), collects=len(collects), comments=len(comments), follows=len(follow_rows),
    )
