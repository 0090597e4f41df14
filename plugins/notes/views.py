"""Notes as the API shows them: the full note (`note_out`) and cards for lists
(`note_cards`, a fixed number of queries whatever the page size). Other parts of the
plugin (boards, the feed) may reuse the cards."""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
from sqlalchemy import select

from core.auth.models import User
from core.catalog.media import media_url
from core.db import valid_id
from core.errors import NotFound
from core.catalog.models import Brand, Product, ProductMedia, ProductStatus, Variant, VariantPrice
from plugins.notes import notes as svc
from plugins.notes.models import Mention, Note, NoteImage, NoteKind, NotesProfile, NoteTopic, Topic
from plugins.notes.schemas import (
    AuthorOut,
    BrandOut,
    CountsOut,
    ImageOut,
    LocationOut,
    MentionOut,
    ModerationOut,
    NoteCardOut,
    NoteOut,
    ProductTagOut,
    SizeOut,
    TopicOut,
    VideoOut,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor
    from core.runtime import Runtime


def _sizes(sizes: dict[str, Any] | None) -> dict[str, SizeOut]:
    return {
        name: SizeOut(url=media_url(s["path"]), width=s["width"], height=s["height"])
        for name, s in sorted((sizes or {}).items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)
        if isinstance(s, dict) and "path" in s
    }


def image_out(img: NoteImage) -> ImageOut:
    return ImageOut(position=img.position, url=media_url(img.path), width=img.width, height=img.height, sizes=_sizes(img.sizes), alt=img.alt)


async def authors(session: AsyncSession, user_ids: set[int]) -> dict[int, AuthorOut]:
    if not user_ids:
        return {}
    from plugins.notes.profiles import avatar_url

    rows = await session.execute(
        select(User.id, User.display_name, NotesProfile).outerjoin(NotesProfile, NotesProfile.user_id == User.id).where(User.id.in_(user_ids))
    )
    return {uid: AuthorOut(user_id=uid, handle=p.handle if p else f"u{uid}", display_name=name, avatar_url=avatar_url(p)) for uid, name, p in rows.all()}


async def note_cards(session: AsyncSession, notes: Sequence[Note]) -> list[NoteCardOut]:
    """Cards for a list: cover (the first image, or a video's poster), author, label and
    likes (two queries for any page)."""
    ids = [n.id for n in notes]
    covers: dict[int, NoteImage] = {}
    if ids:
        for img in (await session.execute(select(NoteImage).where(NoteImage.note_id.in_(ids), NoteImage.position == 0))).scalars():
            covers[img.note_id] = img
    people = await authors(session, {n.author_user_id for n in notes})
    return [
        NoteCardOut(
            id=n.id, kind=n.kind, title=n.title,
            cover=image_out(covers[n.id]) if n.id in covers else None,
            author=people.get(n.author_user_id) or AuthorOut(user_id=n.author_user_id, handle=f"u{n.author_user_id}", display_name=""),
            sponsored=bool(n.sponsored), likes=n.like_count, status=n.status, visibility=n.visibility, published_at=n.published_at,
        )
        for n in notes
    ]


async def _products(session: AsyncSession, note_id: int) -> list[ProductTagOut]:
    tags = (await svc.tags_of(session, [note_id]))[note_id]
    if not tags:
        return []
    variant_ids = [t.variant_id for t in tags]
    rows = await session.execute(
        select(Variant, Product, Brand).join(Product, Product.id == Variant.product_id).join(Brand, Brand.id == Product.brand_id).where(Variant.id.in_(variant_ids))
    )
    found = {v.id: (v, p, b) for v, p, b in rows.all()}
    prices: dict[int, dict[str, int]] = {}
    for vp in (await session.execute(select(VariantPrice).where(VariantPrice.variant_id.in_(variant_ids)))).scalars():
        prices.setdefault(vp.variant_id, {})[vp.currency] = vp.amount_minor
    product_ids = {p.id for _, p, _ in found.values()}
    images: dict[int, str] = {}
    for m in (await session.execute(select(ProductMedia).where(ProductMedia.product_id.in_(product_ids)).order_by(ProductMedia.product_id, ProductMedia.position))).scalars():
        images.setdefault(m.product_id, media_url(m.path))
    out = []
    for tag in tags:
        if tag.variant_id not in found:
            continue
        v, p, b = found[tag.variant_id]
        out.append(ProductTagOut(
            variant_id=v.id, product_id=p.id, product_slug=p.slug, title=p.title, sku=v.sku, options={str(k): str(val) for k, val in (v.options or {}).items()},
            brand=BrandOut(id=b.id, slug=b.slug, name=b.name), prices=dict(sorted(prices.get(v.id, {}).items())), image_url=images.get(p.id),
            available=p.status == ProductStatus.ACTIVE and v.is_active and bool(prices.get(v.id)),
            image_position=tag.image_position, x_ppm=tag.x_ppm, y_ppm=tag.y_ppm,
        ))  # fmt: skip
    return out


async def note_out(session: AsyncSession, runtime: Runtime, note: Note, viewer: Actor | None) -> NoteOut:
    """The whole note as its page needs it. The author (and staff) also see the moderation
    verdict; the author sees until when a campaign protects the note."""
    images = (await svc.images_of(session, [note.id]))[note.id]  # a video note's only image is its poster
    topics = list(
        (await session.execute(select(Topic).join(NoteTopic, NoteTopic.topic_id == Topic.id).where(NoteTopic.note_id == note.id).order_by(Topic.key))).scalars()
    )
    mentioned = dict(
        (await session.execute(select(NotesProfile.handle, NotesProfile.user_id).join(Mention, Mention.user_id == NotesProfile.user_id).where(Mention.note_id == note.id))).all()
    )
    sponsors = []
    if note.sponsored_brand_ids:
        sponsors = [BrandOut(id=b.id, slug=b.slug, name=b.name) for b in (await session.execute(select(Brand).where(Brand.id.in_(list(note.sponsored_brand_ids))).order_by(Brand.id))).scalars()]
    author = (await authors(session, {note.author_user_id})).get(note.author_user_id) or AuthorOut(user_id=note.author_user_id, handle=f"u{note.author_user_id}", display_name="")
    is_author = viewer is not None and viewer.user_id == note.author_user_id
    protected_until = None
    if is_author and note.published_at is not None:
        from core.campaigns.collaborations import note_protected_until

        protected_until = await note_protected_until(session, str(note.id))
    video = None
    if note.kind == NoteKind.VIDEO:
        url = media_url(note.video_path) if note.video_path else (note.video_url or "")
        video = VideoOut(url=url, external=note.video_path is None, poster=image_out(images[0]) if images else None)
        images = []
    location = None
    if note.place_name or note.city:
        location = LocationOut(place_name=note.place_name, city=note.city, lat_e6=note.lat_e6, lng_e6=note.lng_e6)
    return NoteOut(
        id=note.id, url=svc.note_url(runtime, note.id), kind=note.kind, title=note.title, body=note.body,
        segments=svc.segments(note.body, mentioned),
        topics=[TopicOut(key=t.key, name=t.name, note_count=t.note_count) for t in topics],
        mentions=[MentionOut(user_id=uid, handle=h) for h, uid in sorted(mentioned.items())],
        author=author, status=note.status, visibility=note.visibility, publish_at=note.publish_at, published_at=note.published_at,
        created_at=note.created_at, updated_at=note.updated_at, version=note.version,
        images=[image_out(i) for i in images], video=video, location=location,
        sponsored=bool(note.sponsored), sponsored_label=dict(svc.SPONSORED_LABEL) if note.sponsored else None, sponsors=sponsors,
        products=await _products(session, note.id),
        counts=CountsOut(likes=note.like_count, collects=note.collect_count, comments=note.comment_count, shares=note.share_count),
        moderation=ModerationOut(verdict=note.moderation, reasons=list(note.moderation_reasons or [])) if is_author or (viewer is not None and viewer.is_staff) else None,
        protected_until=protected_until,
    )


# ---------------------------------------------------------------- the note page, read-modelled

DOC_MAX_AGE = 60.0  # seconds: topic counts, mentioned handles and sponsors' names may lag this much


class _Live(NamedTuple):
    """What a reader's note page reads live: visibility, version, counters, author."""

    author_user_id: int
    status: str
    visibility: str
    version: int
    like_count: int
    collect_count: int
    comment_count: int
    share_count: int
    display_name: str | None
    handle: str | None
    avatar_path: str | None


_live_rows: weakref.WeakKeyDictionary[Any, dict[int, tuple[float, _Live]]] = weakref.WeakKeyDictionary()


def live_seconds() -> float:
    """ZHONGCAO_NOTES_LIVE_SECONDS (default 1): how long one process reuses a note's
    live row for readers. A viral note read thousands of times a second then costs one
    query a second; counts and a deletion written by another process reach readers at
    most this late (a commit in this process drops the process's rows at once; the
    author and staff always read afresh). 0: read it every time."""
    try:
        return max(0.0, float(os.environ.get("ZHONGCAO_NOTES_LIVE_SECONDS", "1")))
    except ValueError:
        return 1.0


async def _live_row(session: AsyncSession, runtime: Runtime, note_id: int) -> _Live | None:
    seconds = live_seconds()
    rows = _live_rows.get(runtime)
    if rows is None:
        rows = _live_rows[runtime] = {}
        # what this process writes, its readers see at once
        runtime.read_models.watch("notes.live_rows", ("notes_note", "notes_profile", "user_account"), rows.clear)
    if seconds > 0:
        kept = rows.get(note_id)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
    found = (
        await session.execute(
            select(
                Note.author_user_id, Note.status, Note.visibility, Note.version,
                Note.like_count, Note.collect_count, Note.comment_count, Note.share_count,
                User.display_name, NotesProfile.handle, NotesProfile.avatar_path,
            )
            .outerjoin(User, User.id == Note.author_user_id)
            .outerjoin(NotesProfile, NotesProfile.user_id == Note.author_user_id)
            .where(Note.id == note_id)
        )
    ).one_or_none()
    row = _Live(*found) if found is not None else None
    if seconds > 0 and row is not None:
        if len(rows) >= 50_000:
            rows.clear()
        rows[note_id] = (time.monotonic() + seconds, row)
    return row


async def public_note(runtime: Runtime, note_id: int, viewer: Actor | None) -> NoteOut:
    """The note as `viewer` reads it, like `readable_note` + `note_out`, but for anyone
    other than its author and staff the document comes from the runtime's read models:
    built once per note version (a content change bumps it; a catalog change drops every
    document), with the visibility, the counters and the author read live (one
    statement, reused for `live_seconds()`). The author and staff get the full answer,
    read afresh (moderation, protection)."""
    if not valid_id(note_id):
        raise NotFound("no such note")
    async with runtime.db.read_session() as session:
        row = await _live_row(session, runtime, note_id)
        if row is not None and viewer is not None and (viewer.user_id == row.author_user_id or viewer.is_staff):
            return await note_out(session, runtime, await svc.readable_note(session, viewer, note_id), viewer)
        if row is None or not svc.is_visible(row):
            raise NotFound("no such note")

        async def build() -> NoteOut:
            return await note_out(session, runtime, await svc.readable_note(session, None, note_id), None)

        doc: NoteOut = await runtime.read_models.get_or_build(f"note:{note_id}", build, token=row.version, max_age=DOC_MAX_AGE)
    author = AuthorOut(
        user_id=row.author_user_id, handle=row.handle or f"u{row.author_user_id}", display_name=row.display_name or "",
        avatar_url=media_url(row.avatar_path) if row.avatar_path else None,
    )
    counts = CountsOut(likes=row.like_count, collects=row.collect_count, comments=row.comment_count, shares=row.share_count)
    return msgspec.structs.replace(doc, author=author, counts=counts)
