"""Notes JSON API, mounted under /api/v1/notes: authors write notes (images come as
multipart uploads), anyone reads the public ones, shoppers buy from them, staff review
what moderation held.

Another user's note id on a write answers 404, exactly like a missing one; so does a
note the caller may not read (a draft, a private or hidden note of someone else, a
deleted one).
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import UploadFile
from litestar.exceptions import ValidationException
from litestar.params import Parameter
from sqlalchemy import select

from core.auth.permissions import Actor, require_actor
from core.catalog import media
from core.errors import ValidationFailed
from core.orders.schemas import CartOut  # noqa: TC001 - in a handler's signature
from core.web import login_required, strict_body
from plugins.notes import moderation
from plugins.notes import notes as svc
from plugins.notes.models import Comment, ModerationCase, Note, NoteKind
from plugins.notes.schemas import (
    CartLineIn,
    CaseOut,
    MyNotesOut,
    NoteOut,
    PublishIn,
    TagsIn,
    TopicOut,
    TopicPageOut,
    UserNotesOut,
)
from plugins.notes.views import authors, note_cards, note_out, public_note

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.catalog.media import StoredFile, StoredImage
    from core.runtime import Runtime

Limit = Annotated[int, Parameter(ge=1, le=100)]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000_000)]
CursorParam = Annotated[str | None, Parameter(max_length=40)]
# up to 18 images of 10 MB each, or a 100 MB video and its poster, plus the envelope;
# multipart parts are spooled to disk as they arrive, and each file is read on its own
UPLOAD_LIMIT = max(svc.IMAGES_MAX * media.MAX_UPLOAD_BYTES, media.MAX_VIDEO_BYTES + media.MAX_UPLOAD_BYTES) + 1024 * 1024


# ---------------------------------------------------------------- multipart


def _bad_body(request: Request, message: str, key: str = "note") -> ValidationException:
    """A body that does not decode is a 400, as `core.web.strict_body` answers."""
    return ValidationException(detail=f"Validation failed for {request.method} {request.url.path}", extra=[{"message": message, "key": key, "source": "body"}])


async def _form(request: Request) -> Any:
    if request.content_type[0] not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise _bad_body(request, "send multipart/form-data: a `note` field (JSON) and the files", "")
    return await request.form()


def _files(request: Request, form: Any, name: str) -> list[UploadFile]:
    values = form.getall(name, []) if hasattr(form, "getall") else []
    if any(not isinstance(v, UploadFile) for v in values):
        raise _bad_body(request, f"`{name}` must be sent as files", name)
    return values


def _one_file(request: Request, form: Any, name: str) -> UploadFile | None:
    files = _files(request, form, name)
    if len(files) > 1:
        raise ValidationFailed(f"send one `{name}` file", extra={"fields": {name: "too_many"}})
    return files[0] if files else None


def _json_field(request: Request, form: Any, name: str, type_: type[Any]) -> Any:
    raw = form.get(name)
    if not isinstance(raw, str):
        raise _bad_body(request, f"the `{name}` field (a JSON object) is required", name)
    try:
        return msgspec.json.decode(raw, type=type_, strict=True)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        found = re.search(r"at `\$\.?([^`]*)`", str(exc))
        raise _bad_body(request, str(exc), f"{name}.{found.group(1)}" if found else name) from exc


class Stored:
    """Files written for one request, removed again unless the request commits."""

    def __init__(self, runtime: Runtime) -> None:
        self.media_dir = runtime.settings.media_dir
        self.files: list[str] = []

    async def image(self, upload: UploadFile, folder: str, label: str) -> StoredImage:
        raw = await upload.read(media.MAX_UPLOAD_BYTES + 1)
        try:
            stored = await media.store_image(self.media_dir, folder, raw)
        except ValidationFailed as exc:
            raise ValidationFailed(f"{label}: {exc.detail}", extra={"fields": {label.split(" ")[0]: "not_an_image"}}) from exc
        self.files += stored.files
        return stored

    async def video(self, upload: UploadFile, folder: str) -> StoredFile:
        stored = await media.store_video(self.media_dir, folder, await upload.read(media.MAX_VIDEO_BYTES + 1))
        self.files.append(stored.path)
        return stored

    async def discard(self) -> None:
        await media.remove_files(self.media_dir, self.files)
        self.files = []


def _folder(actor: Actor) -> str:
    return f"notes/{actor.user_id}"


async def _answer(session: AsyncSession, runtime: Runtime, note: Note, actor: Actor | None) -> NoteOut:
    return await note_out(session, runtime, note, actor)


# ---------------------------------------------------------------- notes


class NoteController(Controller):
    path = "/"
    tags = ["notes"]

    @post("/", guards=[login_required], status_code=201, request_max_body_size=UPLOAD_LIMIT)
    async def create_note(self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> NoteOut:
        """Write a note. multipart/form-data: `note` (JSON: kind image|video, title (≤ 20
        characters), body, visibility, publish (now) or publish_at (later), location,
        video_url, tags [{variant_id, image_position, x_ppm, y_ppm}], sponsored), then
        the files: `images` (1–18, in order) for an image note; `video` (or `video_url`)
        and `poster` for a video note. Files are checked by their content. Without
        `publish` it is a draft."""
        actor = require_actor(actor)
        form = await _form(request)
        data = _json_field(request, form, "note", svc.NoteIn)
        images, video, poster = _files(request, form, "images"), _one_file(request, form, "video"), _one_file(request, form, "poster")
        svc.check_new(data, images=len(images), video=video is not None, poster=poster is not None)  # before any file is written
        verdict = None
        if data.publish or data.publish_at is not None:
            verdict = await moderation.moderate(runtime, "note", svc.moderation_text(data.title, data.body, data.location.place_name if data.location else None), actor.user_id)
            if verdict.verdict == "block":
                raise moderation.refuse(verdict)
        stored = Stored(runtime)
        try:
            kept = [await stored.image(f, _folder(actor), f"images #{i + 1}") for i, f in enumerate(images)]
            kept_video = await stored.video(video, _folder(actor)) if video is not None else None
            kept_poster = await stored.image(poster, _folder(actor), "poster") if poster is not None else None
            note = await svc.create_note(session, runtime, actor, data, images=kept, video=kept_video, poster=kept_poster, verdict=verdict)
            await session.commit()
        except BaseException:
            await stored.discard()
            raise
        return await _answer(session, runtime, note, actor)

    @get("/{note_id:int}")
    async def get_note(self, note_id: int, runtime: Runtime, actor: Actor | None) -> NoteOut:
        """A note: anyone may read a published public one; its author reads it in any
        state. Deleted, private or hidden notes of others: 404. Served from the read
        model, with the counters and the author read live."""
        return await public_note(runtime, note_id, actor)

    @patch("/{note_id:int}", guards=[login_required])
    async def update_note(self, note_id: int, data: svc.NotePatch, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> NoteOut:
        """Change title, body, visibility, location, video_url, tags or sponsored (only the
        fields sent). A published note's new text is moderated again. The sponsored label
        of a collaboration's note cannot be removed (422); a protected note cannot be made
        private (409)."""
        data = await strict_body(request, data)
        judged = await svc.judge_in_advance(runtime, actor, note_id, data)  # before the write transaction opens
        note = await svc.update_note(session, runtime, actor, note_id, data, judged=judged)
        await session.commit()
        return await _answer(session, runtime, note, actor)

    @delete("/{note_id:int}", guards=[login_required], status_code=204)
    async def delete_note(self, note_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> None:
        """Delete your note. Refused (409, with `protected_until`) while a brand
        collaboration's protection period runs."""
        await svc.delete_note(session, runtime, actor, note_id)
        await session.commit()

    @put("/{note_id:int}/images", guards=[login_required], request_max_body_size=UPLOAD_LIMIT)
    async def replace_images(self, note_id: int, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> NoteOut:
        """Replace an image note's images: multipart `images`, 1–18 files, in order."""
        actor = require_actor(actor)
        form = await _form(request)
        images = _files(request, form, "images")
        svc.check_media(NoteKind.IMAGE, images=len(images), video=False, video_url=None, poster=False)
        async with runtime.db.read_session() as reader:
            await svc.own_note(reader, actor, note_id, lock=False)  # 404 before any file is written
        stored = Stored(runtime)
        try:
            kept = [await stored.image(f, _folder(actor), f"images #{i + 1}") for i, f in enumerate(images)]
            old = await svc.replace_images(session, actor, note_id, kept)
            await session.commit()
        except BaseException:
            await stored.discard()
            raise
        await media.remove_files(runtime.settings.media_dir, old)
        return await _answer(session, runtime, await svc.readable_note(session, actor, note_id), actor)

    @put("/{note_id:int}/video", guards=[login_required], request_max_body_size=UPLOAD_LIMIT)
    async def replace_video(self, note_id: int, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> NoteOut:
        """Replace a video note's `video` file and/or its `poster` (multipart). To use an
        address instead of a file, PATCH `video_url`."""
        actor = require_actor(actor)
        form = await _form(request)
        video, poster = _one_file(request, form, "video"), _one_file(request, form, "poster")
        async with runtime.db.read_session() as reader:
            await svc.own_note(reader, actor, note_id, lock=False)
        stored = Stored(runtime)
        try:
            kept_video = await stored.video(video, _folder(actor)) if video is not None else None
            kept_poster = await stored.image(poster, _folder(actor), "poster") if poster is not None else None
            old = await svc.replace_video(session, actor, note_id, video=kept_video, poster=kept_poster)
            await session.commit()
        except BaseException:
            await stored.discard()
            raise
        await media.remove_files(runtime.settings.media_dir, old)
        return await _answer(session, runtime, await svc.readable_note(session, actor, note_id), actor)

    @put("/{note_id:int}/tags", guards=[login_required])
    async def set_tags(self, note_id: int, data: TagsIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> NoteOut:
        """Replace the note's product tags (variants of active products, optionally pinned
        on an image). The sponsored label follows the tagged brands."""
        data = await strict_body(request, data)
        note = await svc.set_tags(session, actor, note_id, data.tags)
        await session.commit()
        return await _answer(session, runtime, note, actor)

    @post("/{note_id:int}/publish", guards=[login_required], status_code=200)
    async def publish(self, note_id: int, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> NoteOut:
        """Publish a draft now, or at `publish_at` (scheduled). Moderation decides: a
        blocked text is refused (422 with the reasons), a held one waits for staff."""
        body = await request.body()
        data = await strict_body(request, PublishIn()) if body.strip() else PublishIn()
        judged = await svc.judge_in_advance(runtime, actor, note_id)  # before the write transaction opens
        note = await svc.publish(session, runtime, actor, note_id, publish_at=data.publish_at, judged=judged)
        await session.commit()
        return await _answer(session, runtime, note, actor)

    @post("/{note_id:int}/unschedule", guards=[login_required], status_code=200)
    async def unschedule(self, note_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> NoteOut:
        """A scheduled note goes back to being a draft."""
        note = await svc.unschedule(session, actor, note_id)
        await session.commit()
        return await _answer(session, runtime, note, actor)

    @post("/{note_id:int}/cart-lines", status_code=200)
    async def add_to_cart(self, note_id: int, data: CartLineIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Response[CartOut]:
        """Buy from a note: add a tagged product to the cart (`cart_token`, else your open
        cart, else a new one — keep its token). The purchase is credited to the note's
        author. "Buy now" is this, then the checkout of the returned cart."""
        from core.campaigns.attribution import VISITOR_COOKIE, VISITOR_COOKIE_AGE, visitor_id_or_none
        from core.orders import cart as carts
        from core.orders.views import cart_out

        data = await strict_body(request, data)
        cookie = visitor_id_or_none(request.cookies.get(VISITOR_COOKIE))
        visitor = visitor_id_or_none(data.visitor_id) or cookie
        if data.visitor_id is not None and visitor_id_or_none(data.visitor_id) is None:
            raise ValidationFailed("visitor_id must be a UUID", extra={"fields": {"visitor_id": "invalid"}})
        new_visitor = visitor is None
        visitor = visitor or str(uuid.uuid4())
        cart = await svc.add_to_cart(session, runtime, actor, note_id, cart_token=data.cart_token, variant_id=data.variant_id, quantity=data.quantity, visitor_id=visitor)
        await session.commit()
        out = await cart_out(session, cart, await carts.price_cart(session, runtime, cart))
        response = Response(out)
        if new_visitor:
            secure = runtime.settings.public_url.startswith("https://")
            response.set_cookie(VISITOR_COOKIE, visitor, max_age=VISITOR_COOKIE_AGE, httponly=True, samesite="lax", secure=secure, path="/")
        return response

    @get("/me/notes", guards=[login_required])
    async def my_notes(
        self, session: AsyncSession, actor: Actor | None, status: Literal["draft", "scheduled", "published", "hidden"] | None = None, limit: Limit = 20, offset: Offset = 0,
    ) -> MyNotesOut:
        """Your notes in every state but deleted, newest first."""
        rows = await svc.my_notes(session, actor, status=status, limit=limit, offset=offset)
        return MyNotesOut(items=await note_cards(session, rows), limit=limit, offset=offset)

    @get("/users/{handle:str}/notes")
    async def user_notes(self, handle: str, session: AsyncSession, actor: Actor | None, cursor: CursorParam = None, limit: Limit = 20) -> UserNotesOut:
        """A user's published public notes, newest first (`next_cursor` pages on)."""
        profile, page = await svc.notes_of_user(session, actor, handle, cursor=cursor, limit=limit)
        author = (await authors(session, {profile.user_id}))[profile.user_id]
        return UserNotesOut(author=author, items=await note_cards(session, page.notes), next_cursor=page.next_cursor)

    @get("/topics/{name:str}")
    async def topic(self, name: str, session: AsyncSession, cursor: CursorParam = None, limit: Limit = 20) -> TopicPageOut:
        """A #topic (by key or name, case-insensitive: 护肤, skincare) and its published
        public notes, newest first."""
        topic, page = await svc.topic_page(session, name, cursor=cursor, limit=limit)
        return TopicPageOut(topic=TopicOut(key=topic.key, name=topic.name, note_count=topic.note_count), items=await note_cards(session, page.notes), next_cursor=page.next_cursor)


# ---------------------------------------------------------------- staff review


async def _case_outs(session: AsyncSession, cases: list[ModerationCase]) -> list[CaseOut]:
    note_ids = [c.ref_id for c in cases if c.kind == "note"]
    comment_ids = [c.ref_id for c in cases if c.kind == "comment"]
    notes = {n.id: n for n in (await session.execute(select(Note).where(Note.id.in_(note_ids)))).scalars()} if note_ids else {}
    comments = {c.id: c for c in (await session.execute(select(Comment).where(Comment.id.in_(comment_ids)))).scalars()} if comment_ids else {}
    out = []
    for c in cases:
        author, text = None, None
        if c.kind == "note" and c.ref_id in notes:
            n = notes[c.ref_id]
            author, text = n.author_user_id, svc.moderation_text(n.title, n.body, n.place_name)
        elif c.kind == "comment" and c.ref_id in comments:
            author, text = comments[c.ref_id].author_user_id, comments[c.ref_id].body
        out.append(CaseOut(
            id=c.id, kind=c.kind, ref_id=c.ref_id, verdict=c.verdict, reasons=list(c.reasons or []), status=c.status,
            created_at=c.created_at, decided_at=c.decided_at, decided_by=c.decided_by, author_user_id=author, text=text,
        ))  # fmt: skip
    return out


class ModerationController(Controller):
    path = "/moderation/cases"
    tags = ["notes: moderation"]
    guards = [login_required]

    @get("/")
    async def cases(
        self, session: AsyncSession, actor: Actor | None, status: Literal["open", "allowed", "blocked"] = "open",
        kind: Literal["note", "comment"] | None = None, limit: Limit = 50, offset: Offset = 0,
    ) -> list[CaseOut]:
        """Platform staff: what moderation held, oldest first, with the text judged."""
        return await _case_outs(session, await moderation.list_cases(session, actor, status=status, kind=kind, limit=limit, offset=offset))

    @post("/{case_id:int}/allow", status_code=200)
    async def allow(self, case_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CaseOut:
        """Platform staff allow a held note (it is published, or scheduled) or comment."""
        case = await moderation.decide_case(session, runtime, actor, case_id, allow=True)
        await session.commit()
        return (await _case_outs(session, [case]))[0]

    @post("/{case_id:int}/block", status_code=200)
    async def block(self, case_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CaseOut:
        """Platform staff block a held note or comment: it stays hidden."""
        case = await moderation.decide_case(session, runtime, actor, case_id, allow=False)
        await session.commit()
        return (await _case_outs(session, [case]))[0]


NOTE_CONTROLLERS = [NoteController, ModerationController]
