"""Notes: image and video posts that tag products.

    draft -> published                  (publish now: moderation allows)
    draft -> scheduled -> published     (publish_at later; the `notes.publish_due` job)
    draft | scheduled -> hidden         (moderation holds it: staff review, then published or kept hidden)
    any but deleted -> deleted          (the author; refused while a campaign protects the note)

An image note has 1–18 images, in order; a video note a video (an uploaded file or a URL)
and a poster image. The title has at most 20 characters (characters, not bytes: 护肤 is
2), the body at most 1000. `#topics` and `@mentions` are parsed from the body and stored
(`NoteTopic`, `Mention`); a mention links only a known handle, anything else stays text.

Product tags are catalog variants of active products. When the author has a
collaboration (accepted or later) with the brand of a tagged product — or the note is
a collaboration's content — the note carries the sponsored label (广告) and those brand
ids; it is recomputed on every tag change and publish, and the author cannot take it
off (asking for `sponsored: false` then is a 422). An author may add the label of their
own accord.

Every change bumps `version`. Counters (the author's `note_count`, each topic's
`note_count`) count published public notes and move in the transaction that changes a
note's visibility.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from sqlalchemy import and_, delete, func, or_, select, update

from core.auth.permissions import Actor, require_actor
from core.campaigns.attribution import EARNING_STATUSES  # a collaboration "accepted or later"
from core.catalog.models import Brand, Product, ProductStatus, Variant
from core.db import dialect_insert, utcnow, valid_id
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import mark_changed, record_event
from plugins.notes.models import (
    Mention,
    Note,
    NoteImage,
    NoteKind,
    NotesProfile,
    NoteStatus,
    NoteTopic,
    NoteTouch,
    ProductTag,
    Topic,
    Verdict,
    Visibility,
)
from plugins.notes.moderation import ALLOWED, ModerationVerdict, moderate, open_case, refuse

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.campaigns.attribution import SaleCandidate, SaleContext
    from core.campaigns.collaborations import ContentInfo
    from core.campaigns.profiles import CreatorStats
    from core.catalog.media import StoredFile, StoredImage
    from core.orders.models import Cart
    from core.runtime import Runtime

TITLE_MAX = 20
BODY_MAX = 1000
IMAGES_MIN, IMAGES_MAX = 1, 18
TAGS_MAX = 20
TOPICS_MAX = 10
TOPIC_MAX_CHARS = 40
MENTIONS_MAX = 20
PLACE_MAX, CITY_MAX = 80, 40
SCHEDULE_MAX_DAYS = 365
PPM = 1_000_000
STATS_RECENT_NOTES = 20
TOUCH_LOOKBACK = timedelta(days=365)  # the longest attribution window a campaign may set
TOUCH_SKEW = timedelta(minutes=1)
NOTE_PRIORITY = 50  # a purchase from a note: above a link click (10), below a code (100)
SPONSORED_LABEL = {"zh-CN": "广告", "en": "Sponsored"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
# a #topic: letters or digits of any script (护肤, skincare, 2024跨年), closed by a space,
# punctuation or a second # (#护肤#); not inside a word, a URL fragment or an HTML entity
TOPIC_RE = re.compile(r"(?<![\w/&#])#([^\W_][\w·]*)(#?)")
MENTION_RE = re.compile(r"(?<![\w@.])@([A-Za-z0-9_][A-Za-z0-9_.]{0,39})")
LIVE_STATES = (NoteStatus.DRAFT, NoteStatus.SCHEDULED, NoteStatus.PUBLISHED, NoteStatus.HIDDEN)

NOTE_EVENT_TYPES = {
    "note.published": "A note became visible (payload: note_id, author_user_id, kind, published_at, topics, sponsored, brand_ids).",
    "note.hidden": "Moderation held a note for review or staff blocked it (payload: note_id, author_user_id, verdict, reasons).",
    "note.deleted": "An author deleted a note (payload: note_id, author_user_id, was_published).",
    "note.updated": "Notes got a new version (text, images, tags, visibility, state): `ids`, one event per transaction.",
}


# ---------------------------------------------------------------- input


class LocationIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    place_name: str | None = None
    city: str | None = None
    lat_e6: int | None = None  # latitude in millionths of a degree
    lng_e6: int | None = None


class TagIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    variant_id: int
    image_position: int | None = None  # which image (0-based) the pin is on
    x_ppm: int | None = None  # where on it, in millionths of its width and height
    y_ppm: int | None = None


class NoteIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new note (the `note` field of the multipart upload)."""

    kind: Literal["image", "video"] = "image"
    title: str = ""
    body: str = ""
    visibility: Literal["public", "private"] = "public"
    publish: bool = False  # publish now (or at publish_at); otherwise a draft
    publish_at: datetime | None = None
    location: LocationIn | None = None
    video_url: str | None = None
    tags: list[TagIn] = msgspec.field(default_factory=list)
    sponsored: bool | None = None  # an author may add the label; it cannot be taken off a collaboration's note


class NotePatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Changes to a note: only the fields sent change (`location: null` removes it)."""

    title: str | msgspec.UnsetType = msgspec.UNSET
    body: str | msgspec.UnsetType = msgspec.UNSET
    visibility: Literal["public", "private"] | msgspec.UnsetType = msgspec.UNSET
    location: LocationIn | None | msgspec.UnsetType = msgspec.UNSET
    video_url: str | None | msgspec.UnsetType = msgspec.UNSET
    tags: list[TagIn] | msgspec.UnsetType = msgspec.UNSET
    sponsored: bool | msgspec.UnsetType = msgspec.UNSET


def char_count(text: str) -> int:
    """Characters as a reader counts them: a CJK character is one, a combining accent or an
    emoji's joiner is none."""
    return sum(1 for ch in text if unicodedata.category(ch) not in ("Mn", "Me", "Cf"))


def _invalid(field_name: str, message: str, code: str = "invalid", **extra: Any) -> ValidationFailed:
    return ValidationFailed(message, extra={"fields": {field_name: code}, **extra})


def _clean_text(value: str, field_name: str, limit: int, *, multiline: bool) -> str:
    text = unicodedata.normalize("NFC", value)
    keep = "\n\t" if multiline else ""
    text = "".join(ch for ch in text if ch in keep or unicodedata.category(ch) != "Cc")
    text = text.strip()
    if char_count(text) > limit:
        raise _invalid(field_name, f"{field_name}: at most {limit} characters (this has {char_count(text)})", "too_long")
    return text


def clean_title(value: str) -> str:
    return _clean_text(value, "title", TITLE_MAX, multiline=False)


def clean_body(value: str) -> str:
    return _clean_text(value, "body", BODY_MAX, multiline=True)


def clean_location(loc: LocationIn | None) -> dict[str, Any]:
    """Columns for a location; all None for no location."""
    if loc is None:
        return {"place_name": None, "city": None, "lat_e6": None, "lng_e6": None}
    place = _clean_text(loc.place_name, "place_name", PLACE_MAX, multiline=False) if loc.place_name is not None else ""
    city = _clean_text(loc.city, "city", CITY_MAX, multiline=False) if loc.city is not None else ""
    if not place and not city:
        raise _invalid("location", "a location needs a place_name or a city (or send location: null)")
    if (loc.lat_e6 is None) != (loc.lng_e6 is None):
        raise _invalid("location", "give both lat_e6 and lng_e6, or neither")
    if loc.lat_e6 is not None and not -90 * PPM <= loc.lat_e6 <= 90 * PPM:
        raise _invalid("location", "lat_e6 is -90000000 to 90000000 (millionths of a degree)")
    if loc.lng_e6 is not None and not -180 * PPM <= loc.lng_e6 <= 180 * PPM:
        raise _invalid("location", "lng_e6 is -180000000 to 180000000 (millionths of a degree)")
    return {"place_name": place or None, "city": city or None, "lat_e6": loc.lat_e6, "lng_e6": loc.lng_e6}


def clean_video_url(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > 500 or not URL_RE.match(value):
        raise _invalid("video_url", "video_url: an http:// or https:// address, up to 500 characters")
    return value


def clean_publish_at(value: datetime | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise _invalid("publish_at", "publish_at needs a time zone (e.g. 2026-12-01T09:00:00+08:00)")
    if value > now + timedelta(days=SCHEDULE_MAX_DAYS):
        raise _invalid("publish_at", f"publish_at: at most {SCHEDULE_MAX_DAYS} days ahead")
    return value


def check_media(kind: str, *, images: int, video: bool, video_url: str | None, poster: bool) -> None:
    """An image note: 1–18 images, no video. A video note: a file or a URL, a poster, no images."""
    if kind == NoteKind.IMAGE:
        if not IMAGES_MIN <= images <= IMAGES_MAX:
            raise _invalid("images", f"an image note has {IMAGES_MIN} to {IMAGES_MAX} images (this has {images})", "count", count=images)
        if video or video_url or poster:
            raise _invalid("video", "an image note has no video or poster")
        return
    if images:
        raise _invalid("images", "a video note has no images (send the poster as `poster`)")
    if video == bool(video_url):
        raise _invalid("video", "a video note has a video file or a video_url (one of them)")
    if not poster:
        raise _invalid("poster", "a video note needs a poster image", "required")


def check_new(data: NoteIn, *, images: int, video: bool, poster: bool, now: datetime | None = None) -> None:
    """Everything about a new note that needs no database: checked before any file is stored."""
    clean_title(data.title)
    clean_body(data.body)
    clean_location(data.location)
    clean_publish_at(data.publish_at, now or utcnow())
    check_media(data.kind, images=images, video=video, video_url=clean_video_url(data.video_url), poster=poster)
    parse_body(clean_body(data.body))
    _check_tag_shapes(data.tags, images if data.kind == NoteKind.IMAGE else 0)


def moderation_text(title: str, body: str, place: str | None = None) -> str:
    return "\n".join(part for part in (title, body, place or "") if part)


# ---------------------------------------------------------------- topics and mentions


class Segment(msgspec.Struct, omit_defaults=True, kw_only=True):
    """A piece of a note's body, so a page can render its links without parsing again."""

    type: str  # "text" | "topic" | "mention"
    text: str
    topic: str | None = None  # the topic's key (its page: /api/v1/notes/topics/{topic})
    handle: str | None = None  # the mentioned profile's handle
    user_id: int | None = None


@dataclass(frozen=True)
class ParsedBody:
    topics: list[tuple[str, str]]  # (name as written, key), first occurrence order
    handles: list[str]  # lower case, first occurrence order


def topic_key(name: str) -> str:
    return unicodedata.normalize("NFKC", name).casefold()


def parse_body(body: str) -> ParsedBody:
    topics: dict[str, str] = {}
    for match in TOPIC_RE.finditer(body):
        name = match.group(1)
        if char_count(name) > TOPIC_MAX_CHARS:
            raise _invalid("body", f"a #topic has at most {TOPIC_MAX_CHARS} characters", "topic_too_long")
        topics.setdefault(topic_key(name), name)
    if len(topics) > TOPICS_MAX:
        raise _invalid("body", f"a note has at most {TOPICS_MAX} #topics (this has {len(topics)})", "too_many_topics")
    handles: list[str] = []
    for match in MENTION_RE.finditer(body):
        handle = match.group(1).rstrip(".").lower()
        if handle and handle not in handles:
            handles.append(handle)
    if len(handles) > MENTIONS_MAX:
        raise _invalid("body", f"a note mentions at most {MENTIONS_MAX} people", "too_many_mentions")
    return ParsedBody([(name, key) for key, name in topics.items()], handles)


def segments(body: str, mentioned: dict[str, int]) -> list[Segment]:
    """The body cut into text, #topic and @mention pieces. `mentioned` maps the handles
    the note links (lower case) to user ids; any other @word stays text."""
    marks: list[tuple[int, int, Segment]] = []
    for match in TOPIC_RE.finditer(body):
        name = match.group(1)
        if char_count(name) <= TOPIC_MAX_CHARS:
            marks.append((match.start(), match.end(), Segment(type="topic", text=match.group(0), topic=topic_key(name))))
    for match in MENTION_RE.finditer(body):
        handle = match.group(1).rstrip(".")
        user_id = mentioned.get(handle.lower())
        if user_id is not None:
            end = match.start() + 1 + len(handle)
            marks.append((match.start(), end, Segment(type="mention", text="@" + handle, handle=handle.lower(), user_id=user_id)))
    marks.sort(key=lambda m: m[0])
    out: list[Segment] = []
    pos = 0
    for start, end, seg in marks:
        if start < pos:
            continue  # overlapping marks cannot happen with these patterns; be safe
        if start > pos:
            out.append(Segment(type="text", text=body[pos:start]))
        out.append(seg)
        pos = end
    if pos < len(body):
        out.append(Segment(type="text", text=body[pos:]))
    return out


async def _topic_ids(session: AsyncSession, topics: list[tuple[str, str]]) -> dict[str, int]:
    """Topic ids by key, creating the topics that are new (safe against a concurrent creation)."""
    if not topics:
        return {}
    table = Topic.__table__
    await session.execute(
        dialect_insert(session, table).values([{"key": key, "name": name, "note_count": 0} for name, key in topics]).on_conflict_do_nothing(index_elements=["key"])
    )
    rows = await session.execute(select(Topic.key, Topic.id).where(Topic.key.in_([key for _, key in topics])))
    return dict(rows.all())


async def _link_body(session: AsyncSession, note: Note, parsed: ParsedBody) -> set[int]:
    """Store the note's topics and mentions (replacing the old ones); the topic ids."""
    ids = await _topic_ids(session, parsed.topics)
    await session.execute(delete(NoteTopic).where(NoteTopic.note_id == note.id))
    if ids:
        await session.execute(NoteTopic.__table__.insert(), [{"note_id": note.id, "topic_id": tid} for tid in ids.values()])
    await session.execute(delete(Mention).where(Mention.note_id == note.id))
    if parsed.handles:
        users = (await session.execute(select(NotesProfile.user_id).where(NotesProfile.handle.in_(parsed.handles)))).scalars().all()
        if users:
            await session.execute(Mention.__table__.insert(), [{"note_id": note.id, "user_id": uid} for uid in sorted(set(users))])
    return set(ids.values())


async def topic_ids_of(session: AsyncSession, note_id: int) -> set[int]:
    return set((await session.execute(select(NoteTopic.topic_id).where(NoteTopic.note_id == note_id))).scalars())


# ---------------------------------------------------------------- product tags


def _check_tag_shapes(tags: Sequence[TagIn], image_count: int) -> None:
    if len(tags) > TAGS_MAX:
        raise _invalid("tags", f"a note tags at most {TAGS_MAX} products")
    seen: set[int] = set()
    for tag in tags:
        if tag.variant_id in seen:
            raise _invalid("tags", f"variant {tag.variant_id} is tagged twice")
        seen.add(tag.variant_id)
        pinned = (tag.x_ppm, tag.y_ppm)
        if (tag.x_ppm is None) != (tag.y_ppm is None):
            raise _invalid("tags", "a pin needs both x_ppm and y_ppm")
        if tag.x_ppm is not None and tag.image_position is None:
            raise _invalid("tags", "a pin names its image: image_position")
        if any(v is not None and not 0 <= v <= PPM for v in pinned):
            raise _invalid("tags", "x_ppm and y_ppm are 0 to 1000000 (millionths of the image's width and height)")
        if tag.image_position is not None and not 0 <= tag.image_position < image_count:
            raise _invalid("tags", f"image_position {tag.image_position} is not one of this note's images (0 to {image_count - 1})" if image_count else "a video note's tags have no image position")


async def _resolve_tags(session: AsyncSession, tags: Sequence[TagIn], image_count: int) -> list[dict[str, Any]]:
    """Tag rows for `tags`: every variant must exist, be sold, and belong to an active
    product (else 422, naming them)."""
    _check_tag_shapes(tags, image_count)
    if not tags:
        return []
    ids = [t.variant_id for t in tags]
    rows = await session.execute(
        select(Variant.id, Variant.product_id, Product.brand_id, Product.status, Variant.is_active).join(Product, Product.id == Variant.product_id).where(Variant.id.in_(ids))
    )
    found = {vid: (pid, bid, status, active) for vid, pid, bid, status, active in rows.all()}
    bad = [vid for vid in ids if vid not in found or found[vid][2] != ProductStatus.ACTIVE or not found[vid][3]]
    if bad:
        raise ValidationFailed(
            f"only products on sale can be tagged; unknown, archived or unavailable: variant {', '.join(map(str, bad))}",
            extra={"fields": {"tags": "unavailable"}, "variant_ids": bad},
        )
    return [
        {"variant_id": t.variant_id, "product_id": found[t.variant_id][0], "brand_id": found[t.variant_id][1], "image_position": t.image_position, "x_ppm": t.x_ppm, "y_ppm": t.y_ppm}
        for t in tags
    ]


async def _replace_tags(session: AsyncSession, note: Note, rows: list[dict[str, Any]]) -> None:
    await session.execute(delete(ProductTag).where(ProductTag.note_id == note.id))
    if rows:
        await session.execute(ProductTag.__table__.insert(), [{"note_id": note.id, **row} for row in rows])


async def tags_of(session: AsyncSession, note_ids: Sequence[int]) -> dict[int, list[ProductTag]]:
    out: dict[int, list[ProductTag]] = {nid: [] for nid in note_ids}
    if note_ids:
        for tag in (await session.execute(select(ProductTag).where(ProductTag.note_id.in_(list(note_ids))).order_by(ProductTag.id))).scalars():
            out[tag.note_id].append(tag)
    return out


# ---------------------------------------------------------------- sponsored disclosure


async def sponsor_brand_ids(session: AsyncSession, note_id: int | None, author_user_id: int, tagged_brand_ids: set[int]) -> list[int]:
    """Brands the note must disclose: those of tagged products the author collaborates with
    (accepted or later, any campaign), and those of collaborations this note is the content of."""
    from core.campaigns.models import Campaign, Collaboration

    brands: set[int] = set()
    if tagged_brand_ids:
        rows = await session.execute(
            select(Campaign.brand_id).join(Collaboration, Collaboration.campaign_id == Campaign.id).where(
                Collaboration.creator_user_id == author_user_id, Collaboration.status.in_(EARNING_STATUSES), Campaign.brand_id.in_(tagged_brand_ids)
            )
        )
        brands |= set(rows.scalars())
    if note_id is not None:
        rows = await session.execute(
            select(Campaign.brand_id).join(Collaboration, Collaboration.campaign_id == Campaign.id).where(
                Collaboration.content_kind == "note", Collaboration.content_ref == str(note_id), Collaboration.status.not_in(("declined", "cancelled"))
            )
        )
        brands |= set(rows.scalars())
    return sorted(brands)


async def _disclose(session: AsyncSession, note: Note, *, asked: bool | None) -> None:
    """Set the sponsored label from the note's tags and the author's collaborations; an
    author's own declaration (`asked`) adds it, but cannot take it off a sponsored note."""
    tagged = set((await session.execute(select(ProductTag.brand_id).where(ProductTag.note_id == note.id))).scalars())
    brands = await sponsor_brand_ids(session, note.id, note.author_user_id, tagged)
    declared = asked if asked is not None else (bool(note.sponsored) and not note.sponsored_brand_ids)
    if asked is False and brands:
        names = (await session.execute(select(Brand.name).where(Brand.id.in_(brands)).order_by(Brand.id))).scalars().all()
        raise _invalid(
            "sponsored", f"this note must carry the sponsored label (广告): you collaborate with {', '.join(names)}", "required", brand_ids=brands,
        )
    note.sponsored = bool(brands) or bool(declared)
    note.sponsored_brand_ids = brands


def _live_notes(author_user_id: int, brand_id: int | None) -> Any:
    query = select(Note).where(Note.author_user_id == author_user_id, Note.status.in_(LIVE_STATES))
    if brand_id is not None:
        query = query.where(Note.id.in_(select(ProductTag.note_id).where(ProductTag.brand_id == brand_id)))
    return query.order_by(Note.id)


async def stale_disclosures(session: AsyncSession, author_user_id: int, brand_id: int | None = None) -> list[int]:
    """The author's live notes (tagging `brand_id`, if given) whose label no longer
    matches their tags and collaborations. Reads only: most collaborations touch no note,
    and then nothing needs a write transaction."""
    stale = []
    for note in (await session.execute(_live_notes(author_user_id, brand_id))).scalars().all():
        tagged = set((await session.execute(select(ProductTag.brand_id).where(ProductTag.note_id == note.id))).scalars())
        brands = await sponsor_brand_ids(session, note.id, note.author_user_id, tagged)
        declared = bool(note.sponsored) and not note.sponsored_brand_ids
        if (bool(note.sponsored), list(note.sponsored_brand_ids or [])) != (bool(brands) or declared, brands):
            stale.append(note.id)
    return stale


async def refresh_disclosure(session: AsyncSession, author_user_id: int, brand_id: int | None = None) -> int:
    """Recompute the label on the author's live notes (those tagging `brand_id`, if given):
    a collaboration that starts after the note was written labels it too. Returns how
    many notes changed. Idempotent."""
    changed = 0
    for note in (await session.execute(_live_notes(author_user_id, brand_id).with_for_update())).scalars().all():
        before = (note.sponsored, list(note.sponsored_brand_ids or []))
        await _disclose(session, note, asked=None)
        if (note.sponsored, list(note.sponsored_brand_ids)) != before:
            note.version += 1
            mark_changed(session, "note.updated", note.id)  # search follows every version
            changed += 1
    await session.flush()
    return changed


# ---------------------------------------------------------------- counters


def is_visible(note: Any) -> bool:
    """Readable by others: published and public (`readable_by_anyone` in SQL). `note`:
    anything with a note's status and visibility (a row, a read model's live row)."""
    return note.status == NoteStatus.PUBLISHED and note.visibility == Visibility.PUBLIC


def readable_by_anyone() -> Any:
    """The SQL condition of `is_visible`: the one rule for lists, the feed and search."""
    return and_(Note.status == NoteStatus.PUBLISHED, Note.visibility == Visibility.PUBLIC)


async def _move_counts(session: AsyncSession, note: Note, *, was_visible: bool, old_topics: set[int], new_topics: set[int]) -> None:
    """The author's and the topics' note counts follow the note's visibility (and topics)."""
    now_visible = is_visible(note)
    if was_visible != now_visible:
        delta = 1 if now_visible else -1
        await session.execute(
            update(NotesProfile)
            .where(NotesProfile.user_id == note.author_user_id, NotesProfile.note_count + delta >= 0)
            .values(note_count=NotesProfile.note_count + delta)
            .execution_options(synchronize_session=False)
        )
    before = old_topics if was_visible else set()
    after = new_topics if now_visible else set()
    for delta, ids in ((-1, before - after), (1, after - before)):
        if ids:
            await session.execute(
                update(Topic).where(Topic.id.in_(ids), Topic.note_count + delta >= 0).values(note_count=Topic.note_count + delta).execution_options(synchronize_session=False)
            )


# ---------------------------------------------------------------- reading, with ownership


async def _load(session: AsyncSession, note_id: int, *, lock: bool = False) -> Note | None:
    if not valid_id(note_id):
        return None
    query = select(Note).where(Note.id == note_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def readable_note(session: AsyncSession, actor: Actor | None, note_id: int) -> Note:
    """A note the caller may read: published and public, or their own (not deleted), or
    any but deleted for platform staff. Anything else is 404."""
    note = await _load(session, note_id)
    if note is None or note.status == NoteStatus.DELETED:
        raise NotFound("no such note")
    if is_visible(note) or (actor is not None and (actor.user_id == note.author_user_id or actor.is_staff)):
        return note
    raise NotFound("no such note")


async def own_note(session: AsyncSession, actor: Actor | None, note_id: int, *, lock: bool = True) -> Note:
    """The caller's own note (not deleted), locked for a change; anyone else's is 404."""
    actor = require_actor(actor)
    note = await _load(session, note_id, lock=lock)
    if note is None or note.author_user_id != actor.user_id or note.status == NoteStatus.DELETED:
        raise NotFound("no such note")
    return note


def _editable(note: Note) -> None:
    if note.status == NoteStatus.HIDDEN:
        raise Conflict("this note is hidden by moderation: it cannot be changed until staff review it" if note.moderation == Verdict.HOLD else "this note was blocked by moderation")


async def images_of(session: AsyncSession, note_ids: Sequence[int]) -> dict[int, list[NoteImage]]:
    out: dict[int, list[NoteImage]] = {nid: [] for nid in note_ids}
    if note_ids:
        for img in (await session.execute(select(NoteImage).where(NoteImage.note_id.in_(list(note_ids))).order_by(NoteImage.note_id, NoteImage.position))).scalars():
            out[img.note_id].append(img)
    return out


# ---------------------------------------------------------------- publishing


def _event_payload(note: Note, topic_keys: list[str]) -> dict[str, Any]:
    return {
        "note_id": note.id, "author_user_id": note.author_user_id, "kind": note.kind, "published_at": note.published_at,
        "topics": topic_keys, "sponsored": note.sponsored, "brand_ids": list(note.sponsored_brand_ids or []),
    }


async def _topic_keys(session: AsyncSession, note_id: int) -> list[str]:
    rows = await session.execute(select(Topic.key).join(NoteTopic, NoteTopic.topic_id == Topic.id).where(NoteTopic.note_id == note_id).order_by(Topic.key))
    return list(rows.scalars())


async def _go_live(session: AsyncSession, runtime: Runtime, note: Note, verdict: ModerationVerdict, now: datetime, *, publish_at: datetime | None) -> None:
    """Make a draft (or scheduled) note public now, or schedule it, as moderation allows:
    block refuses (422, nothing written), hold hides it for staff review."""
    if verdict.verdict == Verdict.BLOCK:
        raise refuse(verdict)
    await _disclose(session, note, asked=None)
    note.publish_at = publish_at
    if verdict.verdict == Verdict.HOLD:
        await _hold(session, runtime, note, verdict)
        return
    note.moderation, note.moderation_reasons = Verdict.ALLOW, []
    if publish_at is not None and publish_at > now:
        note.status = NoteStatus.SCHEDULED
        return
    await _publish_now(session, runtime, note, now)


async def _publish_now(session: AsyncSession, runtime: Runtime, note: Note, now: datetime) -> None:
    was_visible = is_visible(note)
    topics = await topic_ids_of(session, note.id)
    note.status = NoteStatus.PUBLISHED
    note.published_at = note.published_at or now
    await _move_counts(session, note, was_visible=was_visible, old_topics=topics, new_topics=topics)
    await session.flush()
    record_event(session, runtime, "note.published", _event_payload(note, await _topic_keys(session, note.id)))


async def _hold(session: AsyncSession, runtime: Runtime, note: Note, verdict: ModerationVerdict) -> None:
    was_visible = is_visible(note)
    topics = await topic_ids_of(session, note.id)
    note.status = NoteStatus.HIDDEN
    note.moderation, note.moderation_reasons = verdict.verdict, list(verdict.reasons)
    await _move_counts(session, note, was_visible=was_visible, old_topics=topics, new_topics=topics)
    await session.flush()
    await open_case(session, "note", note.id, verdict)
    record_event(session, runtime, "note.hidden", {"note_id": note.id, "author_user_id": note.author_user_id, "verdict": verdict.verdict, "reasons": list(verdict.reasons)})


Judged = tuple[str, ModerationVerdict]  # a text and moderation's verdict on it


async def _verdict_for(runtime: Runtime, note: Note, judged: Judged | None) -> ModerationVerdict:
    """Moderation's verdict on the note's text as it is now: the one asked before the
    transaction if it was for this very text, else asked now."""
    text = moderation_text(note.title, note.body, note.place_name)
    if judged is not None and judged[0] == text:
        return judged[1]
    return await moderate(runtime, "note", text, note.author_user_id)


async def judge_in_advance(runtime: Runtime, actor: Actor | None, note_id: int, patch: NotePatch | None = None) -> Judged | None:
    """Ask moderation about the text an own note will have after `patch` (or, without a
    patch, when it is published) before the write transaction opens: a plugin may call a
    remote service. None when nothing needs judging. Raises what the change would (404,
    422 for a bad title...), so nothing is asked about a change that cannot happen."""
    async with runtime.db.read_session() as session:
        note = await own_note(session, actor, note_id, lock=False)
    if patch is None:
        if note.status not in (NoteStatus.DRAFT, NoteStatus.SCHEDULED):
            return None
        title, body, place = note.title, note.body, note.place_name
    else:
        if note.status not in (NoteStatus.PUBLISHED, NoteStatus.SCHEDULED):
            return None
        title = clean_title(patch.title) if isinstance(patch.title, str) else note.title
        body = clean_body(patch.body) if isinstance(patch.body, str) else note.body
        place = clean_location(patch.location)["place_name"] if patch.location is not msgspec.UNSET else note.place_name  # type: ignore[arg-type]
        if (title, body, place) == (note.title, note.body, note.place_name):
            return None
    text = moderation_text(title, body, place)
    return text, await moderate(runtime, "note", text, note.author_user_id)


# ---------------------------------------------------------------- writing


async def create_note(
    session: AsyncSession, runtime: Runtime, actor: Actor | None, data: NoteIn, *,
    images: Sequence[StoredImage] = (), video: StoredFile | None = None, poster: StoredImage | None = None,
    verdict: ModerationVerdict | None = None, now: datetime | None = None,
) -> Note:
    """A new note from already stored files (the caller stores them first, and removes
    them if this raises). Publishes it (or schedules it) when asked, through moderation;
    `verdict` may be given when the caller asked moderation before the transaction."""
    actor = require_actor(actor)
    now = now or utcnow()
    from plugins.notes.profiles import ensure_profile, require_not_banned

    check_new(data, images=len(images), video=video is not None, poster=poster is not None, now=now)
    title, body = clean_title(data.title), clean_body(data.body)
    publish_at = clean_publish_at(data.publish_at, now)
    go_live = data.publish or publish_at is not None
    if go_live and verdict is None:
        verdict = await moderate(runtime, "note", moderation_text(title, body, data.location.place_name if data.location else None), actor.user_id)
    if verdict is not None and verdict.verdict == Verdict.BLOCK:
        raise refuse(verdict)  # before anything is written
    await require_not_banned(session, actor.user_id, "post")
    await ensure_profile(session, actor.user_id)
    tag_rows = await _resolve_tags(session, data.tags, len(images) if data.kind == NoteKind.IMAGE else 0)
    note = Note(
        author_user_id=actor.user_id, kind=data.kind, title=title, body=body, status=NoteStatus.DRAFT, visibility=data.visibility,
        video_path=video.path if video else None, video_url=clean_video_url(data.video_url), poster_path=poster.path if poster else None,
        **clean_location(data.location), sponsored=False, sponsored_brand_ids=[], moderation=Verdict.ALLOW, moderation_reasons=[],
        like_count=0, collect_count=0, comment_count=0, share_count=0, impression_count=0, version=1,
    )
    session.add(note)
    await session.flush()
    for position, img in enumerate(images if poster is None else [poster]):  # a video's poster is its one image row
        session.add(NoteImage(note_id=note.id, position=position, path=img.path, width=img.width, height=img.height, sizes=dict(img.sizes), alt=""))
    await _link_body(session, note, parse_body(body))
    await _replace_tags(session, note, tag_rows)
    await _disclose(session, note, asked=data.sponsored)
    if go_live:
        assert verdict is not None
        await _go_live(session, runtime, note, verdict, now, publish_at=publish_at)
    await session.flush()
    return note


async def update_note(
    session: AsyncSession, runtime: Runtime, actor: Actor | None, note_id: int, patch: NotePatch, *, judged: Judged | None = None, now: datetime | None = None,
) -> Note:
    """Change an own note's text, visibility, location, video URL, tags or label. A
    published or scheduled note's new text goes through moderation again (block: 422;
    hold: hidden for review). Making a protected note private is refused (409)."""
    now = now or utcnow()
    note = await own_note(session, actor, note_id)
    _editable(note)
    was_visible = is_visible(note)
    old_topics = await topic_ids_of(session, note.id)
    given = {f for f in patch.__struct_fields__ if getattr(patch, f) is not msgspec.UNSET}
    if not given:
        return note
    title = clean_title(patch.title) if isinstance(patch.title, str) else note.title
    body = clean_body(patch.body) if isinstance(patch.body, str) else note.body
    location = clean_location(patch.location) if "location" in given else None  # type: ignore[arg-type]
    parsed = parse_body(body) if "body" in given else None
    image_count = 0
    if note.kind == NoteKind.IMAGE:
        image_count = (await session.execute(select(func.count()).select_from(NoteImage).where(NoteImage.note_id == note.id))).scalar_one()
    tag_rows = await _resolve_tags(session, patch.tags, image_count) if isinstance(patch.tags, list) else None
    if "video_url" in given:
        if note.kind != NoteKind.VIDEO:
            raise _invalid("video_url", "only a video note has a video_url")
        url = clean_video_url(patch.video_url)  # type: ignore[arg-type]
        check_media(NoteKind.VIDEO, images=0, video=note.video_path is not None and url is None, video_url=url, poster=note.poster_path is not None)
        note.video_url = url
        if url is not None:
            note.video_path = None  # the URL replaces an uploaded file (the caller removes it)
    if "visibility" in given and patch.visibility != note.visibility:
        if patch.visibility == Visibility.PRIVATE:
            await _refuse_if_protected(session, note, "made private")
        note.visibility = patch.visibility  # type: ignore[assignment]
    text_changed = (title, body) != (note.title, note.body) or (location is not None and location["place_name"] != note.place_name)
    note.title, note.body = title, body
    if location is not None:
        for key, value in location.items():
            setattr(note, key, value)
    new_topics = await _link_body(session, note, parsed) if parsed is not None else old_topics
    if tag_rows is not None:
        await _replace_tags(session, note, tag_rows)
    await _disclose(session, note, asked=patch.sponsored if isinstance(patch.sponsored, bool) else None)
    note.version += 1
    mark_changed(session, "note.updated", note.id)  # search follows every version
    if text_changed and note.status in (NoteStatus.PUBLISHED, NoteStatus.SCHEDULED):
        verdict = await _verdict_for(runtime, note, judged)
        if verdict.verdict == Verdict.BLOCK:
            raise refuse(verdict, "this change")
        if verdict.verdict == Verdict.HOLD:
            await _move_counts(session, note, was_visible=was_visible, old_topics=old_topics, new_topics=new_topics)
            await _hold(session, runtime, note, verdict)
            return note
    await _move_counts(session, note, was_visible=was_visible, old_topics=old_topics, new_topics=new_topics)
    await session.flush()
    return note


def _files_of(img: NoteImage) -> list[str]:
    return [img.path, *(s["path"] for s in (img.sizes or {}).values() if isinstance(s, dict) and "path" in s)]


async def replace_images(session: AsyncSession, actor: Actor | None, note_id: int, images: Sequence[StoredImage]) -> list[str]:
    """Replace an image note's images (1–18, in order). Pins on images that no longer exist
    lose their position. Returns the old files, for the caller to remove after commit."""
    note = await own_note(session, actor, note_id)
    _editable(note)
    if note.kind != NoteKind.IMAGE:
        raise _invalid("images", "only an image note has images")
    check_media(NoteKind.IMAGE, images=len(images), video=False, video_url=None, poster=False)
    old = list((await session.execute(select(NoteImage).where(NoteImage.note_id == note.id))).scalars())
    files = [f for img in old for f in _files_of(img)]
    await session.execute(delete(NoteImage).where(NoteImage.note_id == note.id))
    for position, img in enumerate(images):
        session.add(NoteImage(note_id=note.id, position=position, path=img.path, width=img.width, height=img.height, sizes=dict(img.sizes), alt=""))
    await session.execute(
        update(ProductTag)
        .where(ProductTag.note_id == note.id, ProductTag.image_position >= len(images))
        .values(image_position=None, x_ppm=None, y_ppm=None)
        .execution_options(synchronize_session=False)
    )
    note.version += 1
    mark_changed(session, "note.updated", note.id)  # search follows every version
    await session.flush()
    return files


async def replace_video(session: AsyncSession, actor: Actor | None, note_id: int, *, video: StoredFile | None, poster: StoredImage | None) -> list[str]:
    """A video note's new video file and/or poster. Returns the replaced files."""
    note = await own_note(session, actor, note_id)
    _editable(note)
    if note.kind != NoteKind.VIDEO:
        raise _invalid("video", "only a video note has a video and a poster")
    if video is None and poster is None:
        raise _invalid("video", "send a video file, a poster, or both")
    old: list[str] = []
    if video is not None:
        old += [p for p in (note.video_path,) if p]
        note.video_path, note.video_url = video.path, None
    if poster is not None:
        rows = list((await session.execute(select(NoteImage).where(NoteImage.note_id == note.id))).scalars())
        old += [f for img in rows for f in _files_of(img)]
        await session.execute(delete(NoteImage).where(NoteImage.note_id == note.id))
        session.add(NoteImage(note_id=note.id, position=0, path=poster.path, width=poster.width, height=poster.height, sizes=dict(poster.sizes), alt=""))
        note.poster_path = poster.path
    note.version += 1
    mark_changed(session, "note.updated", note.id)  # search follows every version
    await session.flush()
    return old


async def set_tags(session: AsyncSession, actor: Actor | None, note_id: int, tags: Sequence[TagIn]) -> Note:
    """Replace an own note's product tags; the sponsored label follows."""
    note = await own_note(session, actor, note_id)
    _editable(note)
    count = 0
    if note.kind == NoteKind.IMAGE:
        count = (await session.execute(select(func.count()).select_from(NoteImage).where(NoteImage.note_id == note.id))).scalar_one()
    await _replace_tags(session, note, await _resolve_tags(session, tags, count))
    await _disclose(session, note, asked=None)
    note.version += 1
    mark_changed(session, "note.updated", note.id)  # search follows every version
    await session.flush()
    return note


async def publish(
    session: AsyncSession, runtime: Runtime, actor: Actor | None, note_id: int, *, publish_at: datetime | None = None,
    judged: Judged | None = None, now: datetime | None = None,
) -> Note:
    """Publish an own draft now, or schedule it (`publish_at` later); a scheduled note is
    published now or rescheduled. Publishing a published note again changes nothing."""
    now = now or utcnow()
    note = await own_note(session, actor, note_id)
    _editable(note)
    publish_at = clean_publish_at(publish_at, now)
    if note.status == NoteStatus.PUBLISHED:
        return note
    from plugins.notes.profiles import require_not_banned

    await require_not_banned(session, note.author_user_id, "post")
    verdict = await _verdict_for(runtime, note, judged)
    await _go_live(session, runtime, note, verdict, now, publish_at=publish_at)
    note.version += 1
    mark_changed(session, "note.updated", note.id)  # search follows every version
    await session.flush()
    return note


async def unschedule(session: AsyncSession, actor: Actor | None, note_id: int) -> Note:
    """A scheduled note goes back to being a draft."""
    note = await own_note(session, actor, note_id)
    if note.status == NoteStatus.DRAFT:
        return note
    if note.status != NoteStatus.SCHEDULED:
        raise Conflict(f"a {note.status} note is not scheduled")
    note.status, note.publish_at = NoteStatus.DRAFT, None
    note.version += 1
    mark_changed(session, "note.updated", note.id)  # search follows every version
    await session.flush()
    return note


async def _refuse_if_protected(session: AsyncSession, note: Note, what: str) -> None:
    from core.campaigns.collaborations import note_protected_until

    until = await note_protected_until(session, str(note.id))
    if until is not None:
        raise Conflict(
            f"this note is protected by a brand collaboration until {until.strftime('%Y-%m-%d %H:%M UTC')}: it cannot be {what} before then",
            extra={"protected_until": until.isoformat()},
        )


async def delete_note(session: AsyncSession, runtime: Runtime, actor: Actor | None, note_id: int, *, now: datetime | None = None) -> Note:
    """The author deletes their note (soft: likes, touches and attributions keep it). While
    a campaign's protection period runs, 409. Deleting twice is a no-op."""
    actor = require_actor(actor)
    note = await _load(session, note_id, lock=True)
    if note is None or note.author_user_id != actor.user_id:
        raise NotFound("no such note")
    if note.status == NoteStatus.DELETED:
        return note
    await _refuse_if_protected(session, note, "deleted")
    was_visible, was_published = is_visible(note), note.published_at is not None
    topics = await topic_ids_of(session, note.id)
    note.status, note.deleted_at = NoteStatus.DELETED, now or utcnow()
    note.version += 1
    mark_changed(session, "note.updated", note.id)  # search follows every version
    await _move_counts(session, note, was_visible=was_visible, old_topics=topics, new_topics=topics)
    await session.flush()
    record_event(session, runtime, "note.deleted", {"note_id": note.id, "author_user_id": note.author_user_id, "was_published": was_published})
    return note


async def release_held_note(session: AsyncSession, runtime: Runtime, note_id: int, *, allow: bool, now: datetime | None = None) -> Note | None:
    """Staff decided a held note: allowed, it is published (or scheduled, if its time has
    not come); blocked, it stays hidden for good."""
    now = now or utcnow()
    note = await _load(session, note_id, lock=True)
    if note is None or note.status != NoteStatus.HIDDEN:
        return note  # deleted meanwhile, or decided before
    note.version += 1
    mark_changed(session, "note.updated", note.id)  # search follows every version
    if not allow:
        note.moderation = Verdict.BLOCK
        await session.flush()
        return note
    note.moderation, note.moderation_reasons = Verdict.ALLOW, []
    if note.publish_at is not None and note.publish_at > now and note.published_at is None:
        note.status = NoteStatus.SCHEDULED
        await session.flush()
        return note
    await _publish_now(session, runtime, note, now)
    return note


async def publish_due(runtime: Runtime, *, now: datetime | None = None, limit: int = 200) -> int:
    """The `notes.publish_due` job: publish scheduled notes whose time has come. Each
    note moves with a conditional UPDATE (scheduled -> published), so two runs at once
    or a redelivered job publish it once. Moderation is asked again (the lists may have
    changed since it was scheduled), unless staff allowed the note already. Returns how
    many were published."""
    now = now or utcnow()
    async with runtime.db.read_session() as session:
        due = (
            await session.execute(
                select(Note.id, Note.author_user_id, Note.title, Note.body, Note.place_name)
                .where(Note.status == NoteStatus.SCHEDULED, Note.publish_at <= now)
                .order_by(Note.publish_at, Note.id)
                .limit(limit)
            )
        ).all()
    reviewed: set[int] = set()
    if due:
        from plugins.notes.models import ModerationCase

        async with runtime.db.read_session() as session:
            reviewed = set(
                (await session.execute(select(ModerationCase.ref_id).where(ModerationCase.kind == "note", ModerationCase.ref_id.in_([d[0] for d in due]), ModerationCase.status == "allowed"))).scalars()
            )
    published = 0
    for note_id, author, title, body, place in due:
        # staff allowed this text already (an edit since would have been judged again)
        verdict = ALLOWED if note_id in reviewed else await moderate(runtime, "note", moderation_text(title, body, place), author)
        async with runtime.db.session() as session:
            if verdict.verdict == Verdict.ALLOW:
                moved = await session.execute(
                    update(Note)
                    .where(Note.id == note_id, Note.status == NoteStatus.SCHEDULED, Note.publish_at <= now)
                    .values(status=NoteStatus.PUBLISHED, published_at=func.coalesce(Note.published_at, now), version=Note.version + 1, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount == 1:
                    note = await session.get(Note, note_id)
                    assert note is not None
                    await session.refresh(note)
                    await _disclose(session, note, asked=None)  # a collaboration may have started since it was scheduled
                    topics = await topic_ids_of(session, note_id)
                    await _move_counts(session, note, was_visible=False, old_topics=topics, new_topics=topics)
                    record_event(session, runtime, "note.published", _event_payload(note, await _topic_keys(session, note_id)))
                    published += 1
            else:
                note = await _load(session, note_id, lock=True)
                if note is not None and note.status == NoteStatus.SCHEDULED:
                    note.version += 1
                    mark_changed(session, "note.updated", note.id)  # search follows every version
                    await _hold(session, runtime, note, ModerationVerdict(verdict=verdict.verdict if verdict.verdict == Verdict.HOLD else Verdict.BLOCK, reasons=verdict.reasons))
            await session.commit()
    return published


# ---------------------------------------------------------------- lists


@dataclass(frozen=True)
class Cursor:
    """A position in a newest-first list: (published_at, id) of the last item seen."""

    at: datetime
    id: int

    def encode(self) -> str:
        return f"{(self.at - EPOCH) // timedelta(microseconds=1)}_{self.id}"  # exact: no float

    @staticmethod
    def decode(raw: str | None) -> Cursor | None:
        if raw is None or raw == "":
            return None
        micros, sep, note_id = raw.partition("_")
        if not sep or not micros.lstrip("-").isdigit() or not note_id.isdigit() or len(raw) > 40:
            raise _invalid("cursor", "cursor: pass back the next_cursor of the previous page")
        try:
            at = EPOCH + timedelta(microseconds=int(micros))
        except OverflowError as exc:
            raise _invalid("cursor", "cursor: pass back the next_cursor of the previous page") from exc
        return Cursor(at, int(note_id))


@dataclass
class NotePage:
    notes: list[Note]
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _newest_first(query: Any, cursor: Cursor | None, limit: int) -> Any:
    if cursor is not None:
        query = query.where(or_(Note.published_at < cursor.at, and_(Note.published_at == cursor.at, Note.id < cursor.id)))
    return query.order_by(Note.published_at.desc(), Note.id.desc()).limit(limit + 1)


def _page(rows: list[Note], limit: int) -> NotePage:
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more and rows else None
    return NotePage(rows, Cursor(last.published_at, last.id).encode() if last is not None and last.published_at is not None else None)


async def notes_of_user(session: AsyncSession, actor: Actor | None, handle: str, *, cursor: str | None = None, limit: int = 20) -> tuple[NotesProfile, NotePage]:
    """A user's published public notes, newest first (their own page shows them the same
    list; their drafts are in `my_notes`)."""
    from plugins.notes.profiles import profile_by_handle

    profile = await profile_by_handle(session, handle) if isinstance(handle, str) and len(handle) <= 40 else None
    if profile is None:
        raise NotFound("no such user")
    query = select(Note).where(Note.author_user_id == profile.user_id, readable_by_anyone())
    rows = list((await session.execute(_newest_first(query, Cursor.decode(cursor), limit))).scalars())
    return profile, _page(rows, limit)


async def my_notes(session: AsyncSession, actor: Actor | None, *, status: str | None = None, limit: int = 20, offset: int = 0) -> list[Note]:
    """The caller's notes in every state but deleted (drafts, scheduled, hidden, private), newest first."""
    actor = require_actor(actor)
    query = select(Note).where(Note.author_user_id == actor.user_id, Note.status != NoteStatus.DELETED)
    if status is not None:
        query = query.where(Note.status == status)
    return list((await session.execute(query.order_by(Note.id.desc()).limit(limit).offset(offset))).scalars())


async def topic_page(session: AsyncSession, name: str, *, cursor: str | None = None, limit: int = 20) -> tuple[Topic, NotePage]:
    """A #topic and its published public notes, newest first."""
    key = topic_key(name.lstrip("#")) if isinstance(name, str) else ""
    topic = (await session.execute(select(Topic).where(Topic.key == key))).scalar_one_or_none() if 0 < len(key) <= TOPIC_MAX_CHARS * 2 else None
    if topic is None:
        raise NotFound("no such topic")
    query = (
        select(Note)
        .join(NoteTopic, NoteTopic.note_id == Note.id)
        .where(NoteTopic.topic_id == topic.id, readable_by_anyone())
    )
    rows = list((await session.execute(_newest_first(query, Cursor.decode(cursor), limit))).scalars())
    return topic, _page(rows, limit)


# ---------------------------------------------------------------- buying from a note


async def add_to_cart(
    session: AsyncSession, runtime: Runtime, actor: Actor | None, note_id: int, *, cart_token: str | None, variant_id: int, quantity: int,
    visitor_id: str | None, now: datetime | None = None,
) -> Cart:
    """Put a product tagged on a note into the caller's cart (the cart named by its token,
    else the user's open cart, else a new one) and remember the touch, so a purchase
    within the campaign's attribution window is credited to the note's author."""
    from core.campaigns.attribution import remember_visitor, visitor_id_or_none
    from core.orders import cart as carts

    note = await readable_note(session, actor, note_id)
    tagged = (await session.execute(select(ProductTag.id).where(ProductTag.note_id == note.id, ProductTag.variant_id == variant_id))).first()
    if tagged is None:
        raise _invalid("variant_id", "that product is not tagged on this note", "not_tagged")
    cart = await carts.find_cart(session, cart_token, actor) if cart_token else None
    if cart_token and cart is None:
        raise NotFound("no such cart")
    if cart is None and actor is not None:
        cart = await carts.find_cart(session, None, actor)
    if cart is None:
        cart = await carts.new_cart(session, user_id=actor.user_id if actor else None)
    await carts.set_line(session, cart, variant_id=variant_id, quantity=quantity, add=True)
    visitor = visitor_id_or_none(visitor_id)
    if visitor is not None:
        await remember_visitor(session, cart, visitor)
    session.add(NoteTouch(note_id=note.id, variant_id=variant_id, user_id=actor.user_id if actor else None, visitor_id=visitor, created_at=now or utcnow()))
    await session.flush()
    return cart


async def sale_candidates(runtime: Runtime, order: SaleContext) -> list[SaleCandidate]:
    """The `attribute_sale` answer: for each note the buyer (by user id or by the
    checkout's visitor id) bought an order line's product from, the note's author, with
    the first and the last touch (the core picks by the campaign's model and window)."""
    from core.campaigns.attribution import SaleCandidate

    variants = {line.variant_id for line in order.lines}
    who = []
    if order.user_id is not None:
        who.append(NoteTouch.user_id == order.user_id)
    if order.visitor_id:
        who.append(NoteTouch.visitor_id == order.visitor_id)
    if not who or not variants:
        return []
    async with runtime.db.read_session() as session:
        rows = await session.execute(
            select(NoteTouch.note_id, NoteTouch.variant_id, Note.author_user_id, func.min(NoteTouch.created_at), func.max(NoteTouch.created_at))
            .join(Note, Note.id == NoteTouch.note_id)
            .where(or_(*who), NoteTouch.variant_id.in_(variants), NoteTouch.created_at >= order.paid_at - TOUCH_LOOKBACK, NoteTouch.created_at <= order.paid_at + TOUCH_SKEW)
            .group_by(NoteTouch.note_id, NoteTouch.variant_id, Note.author_user_id)
            .order_by(NoteTouch.note_id, NoteTouch.variant_id)
        )
        found = rows.all()
    out: list[SaleCandidate] = []
    for note_id, variant_id, author, first, last in found:
        for at in dict.fromkeys((first, last)):
            out.append(SaleCandidate(creator_user_id=author, source="note", ref=str(note_id), touched_at=at, variant_ids=(variant_id,), priority=NOTE_PRIORITY))
    return out


# ---------------------------------------------------------------- what the campaigns core asks


def note_url(runtime: Runtime, note_id: int) -> str:
    return f"{runtime.settings.public_url.rstrip('/')}/notes/{note_id}"


async def content_info(runtime: Runtime, ref: str) -> ContentInfo | None:
    """The `resolve_content(kind="note")` answer: None for an unknown or deleted note."""
    from core.campaigns.collaborations import ContentInfo

    if not isinstance(ref, str) or not ref.isdigit() or len(ref) > 18:
        return None
    async with runtime.db.read_session() as session:
        note = await session.get(Note, int(ref))
        if note is None or note.status == NoteStatus.DELETED:
            return None
        labelled = bool(note.sponsored)
        if not labelled:  # a collaboration accepted a moment ago: its event may not be handled yet
            tagged = set((await session.execute(select(ProductTag.brand_id).where(ProductTag.note_id == note.id))).scalars())
            labelled = bool(await sponsor_brand_ids(session, note.id, note.author_user_id, tagged))
    return ContentInfo(
        url=note_url(runtime, note.id), author_user_id=note.author_user_id, title=note.title, sponsored_label=labelled,
        published=is_visible(note), published_at=note.published_at if is_visible(note) else None,
        engagement=note.like_count + note.collect_count + note.comment_count,
    )


async def stats_of(runtime: Runtime, user_id: int) -> CreatorStats | None:
    """The `creator_stats` answer, for a user with a notes profile: followers, the mean
    likes + collects of their last 20 published public notes (rounded half up), and that
    over followers in ppm. None for someone without a profile (no content to judge)."""
    from core.campaigns.profiles import CreatorStats, engagement_rate_ppm

    async with runtime.db.read_session() as session:
        profile = await session.get(NotesProfile, user_id)
        if profile is None:
            return None
        recent = (
            select((Note.like_count + Note.collect_count).label("engagement"))
            .where(Note.author_user_id == user_id, readable_by_anyone())
            .order_by(Note.published_at.desc(), Note.id.desc())
            .limit(STATS_RECENT_NOTES)
            .subquery()
        )
        count, total = (await session.execute(select(func.count(), func.coalesce(func.sum(recent.c.engagement), 0)).select_from(recent))).one()
    average = (2 * int(total) + count) // (2 * count) if count else 0
    return CreatorStats(followers=profile.follower_count, avg_engagement=average, engagement_rate_ppm=engagement_rate_ppm(average, profile.follower_count))
