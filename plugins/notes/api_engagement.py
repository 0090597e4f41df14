"""Engagement and people JSON API, mounted under /api/v1/notes: likes, collects and
boards, comments and replies, shares, follows, public profiles, bans.

Controllers are thin: the rules live in `plugins.notes.engagement` and
`plugins.notes.profiles`. Another user's board or comment id on a write answers 404,
exactly like a missing one; so does a note the caller may not see.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import Parameter
from sqlalchemy import select

from core.auth.permissions import Actor, require_actor
from core.web import login_required, strict_body
from plugins.notes import engagement, profiles
from plugins.notes.models import Board, Note, NotesProfile
from plugins.notes.schemas import AuthorOut, NoteCardOut

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Limit = Annotated[int, Parameter(ge=1, le=100)]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000_000)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
BoardName = Annotated[str, msgspec.Meta(min_length=1, max_length=engagement.MAX_BOARD_NAME)]


# ---------------------------------------------------------------- shapes


class LikeOut(msgspec.Struct):
    liked: bool
    like_count: int


class CollectIn(msgspec.Struct, forbid_unknown_fields=True):
    """Into a board by id, or by name (created if new); neither: the default board."""

    board_id: Id | None = None
    board_name: BoardName | None = None


class CollectOut(msgspec.Struct):
    collected: bool
    board_id: int | None
    collect_count: int


class ShareIn(msgspec.Struct, forbid_unknown_fields=True):
    channel: Annotated[str, msgspec.Meta(min_length=1, max_length=20)] = "link"


class ShareOut(msgspec.Struct):
    share_count: int
    counted: bool


class CommentIn(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    parent_id: Id | None = None  # reply to this comment (a reply to a reply joins its thread)


class ReplyIn(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class ReviewIn(msgspec.Struct, forbid_unknown_fields=True):
    decision: Literal["allow", "block"]


class CommentOut(msgspec.Struct):
    id: int
    note_id: int
    parent_id: int | None
    body: str
    author: AuthorOut
    like_count: int
    reply_count: int
    created_at: datetime
    status: str  # visible | held (waits for staff) | deleted
    liked_by_me: bool = False
    replies: list[CommentOut] = msgspec.field(default_factory=list)


class CommentPage(msgspec.Struct):
    items: list[CommentOut]
    limit: int
    offset: int
    total: int  # top-level comments for a note's list, replies for a thread


class CommentLikeOut(msgspec.Struct):
    liked: bool
    like_count: int


class BoardIn(msgspec.Struct, forbid_unknown_fields=True):
    name: BoardName
    private: bool = False


class BoardPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: BoardName | None = None
    private: bool | None = None


class BoardOut(msgspec.Struct):
    id: int
    name: str
    private: bool
    note_count: int
    owner: str  # the owner's handle
    created_at: datetime


class NoteCardPage(msgspec.Struct):
    items: list[NoteCardOut]  # the notes plugin's cards (plugins.notes.views.note_cards)
    limit: int
    offset: int


class ProfileOut(msgspec.Struct):
    handle: str
    display_name: str
    avatar_url: str | None
    bio: str
    follower_count: int
    following_count: int
    note_count: int
    likes_received: int  # likes + collects on their notes
    followed_by_me: bool
    follows_me: bool


class MyProfileOut(msgspec.Struct):
    profile: ProfileOut
    banned_until: datetime | None
    ban_reason: str


class ProfilePatch(msgspec.Struct, forbid_unknown_fields=True):
    handle: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] | None = None
    bio: Annotated[str, msgspec.Meta(max_length=profiles.MAX_BIO * 2)] | None = None


class PersonOut(msgspec.Struct):
    handle: str
    display_name: str
    avatar_url: str | None
    bio: str
    follower_count: int
    followed_by_me: bool
    follows_me: bool
    since: datetime | None


class PersonPage(msgspec.Struct):
    items: list[PersonOut]
    limit: int
    offset: int


class FollowOut(msgspec.Struct):
    following: bool
    follower_count: int  # theirs
    following_count: int  # yours


class BanIn(msgspec.Struct, forbid_unknown_fields=True):
    until: datetime
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class BanOut(msgspec.Struct):
    handle: str
    banned_until: datetime | None
    ban_reason: str


# ---------------------------------------------------------------- ORM -> answers


def profile_out(person: profiles.Person) -> ProfileOut:
    p = person.profile
    return ProfileOut(
        handle=p.handle, display_name=person.display_name, avatar_url=profiles.avatar_url(p), bio=p.bio,
        follower_count=p.follower_count, following_count=p.following_count, note_count=p.note_count,
        likes_received=p.likes_received, followed_by_me=person.followed_by_me, follows_me=person.follows_me,
    )


def person_out(person: profiles.Person) -> PersonOut:
    p = person.profile
    return PersonOut(
        handle=p.handle, display_name=person.display_name, avatar_url=profiles.avatar_url(p), bio=p.bio,
        follower_count=p.follower_count, followed_by_me=person.followed_by_me, follows_me=person.follows_me, since=person.since,
    )


def board_out(board: Board, owner_handle: str) -> BoardOut:
    return BoardOut(id=board.id, name=board.name, private=board.private, note_count=board.note_count, owner=owner_handle, created_at=board.created_at)


async def comments_out(session: AsyncSession, views: list[engagement.CommentView]) -> list[CommentOut]:
    from plugins.notes.views import authors

    every = [v for top in views for v in (top, *top.replies)]
    people = await authors(session, {v.comment.author_user_id for v in every})

    def one(v: engagement.CommentView) -> CommentOut:
        c = v.comment
        author = people.get(c.author_user_id) or AuthorOut(user_id=c.author_user_id, handle=f"u{c.author_user_id}", display_name="")
        return CommentOut(
            id=c.id, note_id=c.note_id, parent_id=c.parent_id, body=c.body, author=author,
            like_count=c.like_count, reply_count=c.reply_count, created_at=c.created_at,
            status="held" if c.status == "hidden" else c.status, liked_by_me=v.liked_by_me, replies=[one(r) for r in v.replies],
        )

    return [one(v) for v in views]


async def note_cards(session: AsyncSession, note_ids: list[int]) -> list[NoteCardOut]:
    """The notes plugin's cards, in the order of `note_ids`."""
    from plugins.notes import views

    if not note_ids:
        return []
    found = {n.id: n for n in (await session.execute(select(Note).where(Note.id.in_(note_ids)))).scalars()}
    return await views.note_cards(session, [found[i] for i in note_ids if i in found])


async def _optional_body(request: Request, data: Any, kind: type) -> Any:
    """A body that may be left out entirely (its defaults then)."""
    if not (await request.body()).strip():
        return kind()
    return await strict_body(request, data)


# ---------------------------------------------------------------- notes: like, collect, share, comments


class NoteEngagementController(Controller):
    path = "/"
    tags = ["notes: engagement"]

    @post("/{note_id:int}/like", guards=[login_required], status_code=200)
    async def like(self, note_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> LikeOut:
        """Like a note; liking it again changes nothing."""
        state = await engagement.like_note(session, runtime, require_actor(actor).user_id, note_id)
        await session.commit()
        return LikeOut(liked=state.liked, like_count=state.like_count)

    @delete("/{note_id:int}/like", guards=[login_required], status_code=200)
    async def unlike(self, note_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> LikeOut:
        """Take a like back (nothing happens if there was none)."""
        state = await engagement.unlike_note(session, runtime, require_actor(actor).user_id, note_id)
        await session.commit()
        return LikeOut(liked=state.liked, like_count=state.like_count)

    @post("/{note_id:int}/collect", guards=[login_required], status_code=200)
    async def collect(self, note_id: int, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, data: CollectIn | None = None) -> CollectOut:
        """Save a note into a board: `board_id`, or `board_name` (created if new), or
        neither for the default board. Collecting it again into another board moves it."""
        body = await _optional_body(request, data, CollectIn)
        state = await engagement.collect_note(session, runtime, require_actor(actor).user_id, note_id, board_id=body.board_id, board_name=body.board_name)
        await session.commit()
        return CollectOut(collected=state.collected, board_id=state.board_id, collect_count=state.collect_count)

    @delete("/{note_id:int}/collect", guards=[login_required], status_code=200)
    async def uncollect(self, note_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CollectOut:
        """Remove a note from your boards."""
        state = await engagement.uncollect_note(session, runtime, require_actor(actor).user_id, note_id)
        await session.commit()
        return CollectOut(collected=state.collected, board_id=state.board_id, collect_count=state.collect_count)

    @post("/{note_id:int}/share", guards=[login_required], status_code=200)
    async def share(self, note_id: int, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, data: ShareIn | None = None) -> ShareOut:
        """Count a share through a channel (link, wechat, moments, weibo, qq, qzone, douyin, other)."""
        body = await _optional_body(request, data, ShareIn)
        state = await engagement.share_note(session, runtime, require_actor(actor).user_id, note_id, body.channel)
        await session.commit()
        return ShareOut(share_count=state.share_count, counted=state.counted)

    @get("/{note_id:int}/comments")
    async def comments(self, note_id: int, session: AsyncSession, actor: Actor | None, limit: Limit = 20, offset: Offset = 0) -> CommentPage:
        """Top-level comments, newest first, each with its first replies (oldest first)."""
        viewer = actor.user_id if actor else None
        views = await engagement.list_comments(session, note_id, viewer, limit=limit, offset=offset)
        total = await engagement.count_top_level(session, note_id)
        return CommentPage(items=await comments_out(session, views), limit=limit, offset=offset, total=total)

    @post("/{note_id:int}/comments", guards=[login_required], status_code=201)
    async def add_comment(self, note_id: int, data: CommentIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CommentOut:
        """Comment on a note (or reply with `parent_id`). Refused (422, with reasons) when
        moderation blocks it; `status: held` when it waits for staff review."""
        data = await strict_body(request, data)
        comment = await engagement.add_comment(session, runtime, require_actor(actor).user_id, note_id, data.body, parent_id=data.parent_id)
        await session.commit()
        return (await comments_out(session, [engagement.CommentView(comment)]))[0]


class CommentController(Controller):
    path = "/comments"
    tags = ["notes: engagement"]

    @get("/{comment_id:int}/replies")
    async def replies(self, comment_id: int, session: AsyncSession, actor: Actor | None, limit: Limit = 20, offset: Offset = 0) -> CommentPage:
        """A comment's thread: its replies, oldest first."""
        views = await engagement.list_replies(session, comment_id, actor.user_id if actor else None, limit=limit, offset=offset)
        total = await engagement.count_replies(session, comment_id)
        return CommentPage(items=await comments_out(session, views), limit=limit, offset=offset, total=total)

    @post("/{comment_id:int}/replies", guards=[login_required], status_code=201)
    async def reply(self, comment_id: int, data: ReplyIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CommentOut:
        """Reply to a comment (a reply to a reply joins the top-level comment's thread)."""
        data = await strict_body(request, data)
        user_id = require_actor(actor).user_id
        note_id = await engagement.note_of_comment(session, comment_id)
        comment = await engagement.add_comment(session, runtime, user_id, note_id, data.body, parent_id=comment_id)
        await session.commit()
        return (await comments_out(session, [engagement.CommentView(comment)]))[0]

    @delete("/{comment_id:int}", guards=[login_required], status_code=204)
    async def delete_comment(self, comment_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> None:
        """Delete your comment (or one on your note; staff: any). Its replies go with it."""
        await engagement.delete_comment(session, runtime, require_actor(actor), comment_id)
        await session.commit()

    @post("/{comment_id:int}/like", guards=[login_required], status_code=200)
    async def like(self, comment_id: int, session: AsyncSession, actor: Actor | None) -> CommentLikeOut:
        state = await engagement.like_comment(session, require_actor(actor).user_id, comment_id)
        await session.commit()
        return CommentLikeOut(liked=state.liked, like_count=state.like_count)

    @delete("/{comment_id:int}/like", guards=[login_required], status_code=200)
    async def unlike(self, comment_id: int, session: AsyncSession, actor: Actor | None) -> CommentLikeOut:
        state = await engagement.unlike_comment(session, require_actor(actor).user_id, comment_id)
        await session.commit()
        return CommentLikeOut(liked=state.liked, like_count=state.like_count)

    @post("/{comment_id:int}/review", guards=[login_required], status_code=200)
    async def review(self, comment_id: int, data: ReviewIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CommentOut:
        """Platform staff allow a held comment (it shows and counts) or block it."""
        data = await strict_body(request, data)
        row = await engagement.review_comment(session, runtime, actor, comment_id, allow=data.decision == "allow")
        await session.commit()
        return (await comments_out(session, [engagement.CommentView(row)]))[0]


# ---------------------------------------------------------------- boards


class BoardController(Controller):
    path = "/boards"
    tags = ["notes: boards"]

    @post("/", guards=[login_required], status_code=201)
    async def create(self, data: BoardIn, request: Request, session: AsyncSession, actor: Actor | None) -> BoardOut:
        """A new board (name unique among yours; `private` boards only you see)."""
        data = await strict_body(request, data)
        user_id = require_actor(actor).user_id
        board = await engagement.create_board(session, user_id, data.name, private=data.private)
        owner = await profiles.ensure_profile(session, user_id)
        await session.commit()
        return board_out(board, owner.handle)

    @get("/{board_id:int}")
    async def get_board(self, board_id: int, session: AsyncSession, actor: Actor | None) -> BoardOut:
        """A public board, or your own private one."""
        board = await engagement.readable_board(session, board_id, actor.user_id if actor else None)
        return board_out(board, await _handle_of(session, board.owner_user_id))

    @get("/{board_id:int}/notes")
    async def board_notes(self, board_id: int, session: AsyncSession, actor: Actor | None, limit: Limit = 20, offset: Offset = 0) -> NoteCardPage:
        """The notes saved in a board, last saved first (only those you may see)."""
        viewer = actor.user_id if actor else None
        board = await engagement.readable_board(session, board_id, viewer)
        ids = await engagement.board_note_ids(session, board, viewer, limit=limit, offset=offset)
        return NoteCardPage(items=await note_cards(session, ids), limit=limit, offset=offset)

    @patch("/{board_id:int}", guards=[login_required])
    async def update(self, board_id: int, data: BoardPatch, request: Request, session: AsyncSession, actor: Actor | None) -> BoardOut:
        """Rename your board or make it private / public."""
        data = await strict_body(request, data)
        user_id = require_actor(actor).user_id
        board = await engagement.update_board(session, user_id, board_id, name=data.name, private=data.private)
        handle = await _handle_of(session, user_id)
        await session.commit()
        return board_out(board, handle)

    @delete("/{board_id:int}", guards=[login_required], status_code=204)
    async def delete_board(self, board_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> None:
        """Delete your board; the notes in it are uncollected."""
        await engagement.delete_board(session, runtime, require_actor(actor).user_id, board_id)
        await session.commit()


async def _handle_of(session: AsyncSession, user_id: int) -> str:
    found = (await session.execute(select(NotesProfile.handle).where(NotesProfile.user_id == user_id))).scalar_one_or_none()
    return found or f"u{user_id}"


# ---------------------------------------------------------------- people


class PeopleController(Controller):
    path = "/users"
    tags = ["notes: people"]

    @get("/{handle:str}")
    async def profile(self, handle: str, session: AsyncSession, actor: Actor | None) -> ProfileOut:
        """A user's public profile, and whether you follow each other."""
        return profile_out(await profiles.public_profile(session, handle, actor.user_id if actor else None))

    @post("/{handle:str}/follow", guards=[login_required], status_code=200)
    async def follow(self, handle: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> FollowOut:
        """Follow a user (not yourself: 422); following again changes nothing."""
        state = await profiles.follow(session, runtime, require_actor(actor).user_id, handle)
        await session.commit()
        return FollowOut(following=state.following, follower_count=state.follower_count, following_count=state.following_count)

    @delete("/{handle:str}/follow", guards=[login_required], status_code=200)
    async def unfollow(self, handle: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> FollowOut:
        state = await profiles.unfollow(session, runtime, require_actor(actor).user_id, handle)
        await session.commit()
        return FollowOut(following=state.following, follower_count=state.follower_count, following_count=state.following_count)

    @get("/{handle:str}/followers")
    async def followers(self, handle: str, session: AsyncSession, actor: Actor | None, limit: Limit = 20, offset: Offset = 0) -> PersonPage:
        """Who follows this user, newest first."""
        found = await profiles.followers(session, handle, actor.user_id if actor else None, limit=limit, offset=offset)
        return PersonPage(items=[person_out(p) for p in found], limit=limit, offset=offset)

    @get("/{handle:str}/following")
    async def following(self, handle: str, session: AsyncSession, actor: Actor | None, limit: Limit = 20, offset: Offset = 0) -> PersonPage:
        """Whom this user follows, newest first."""
        found = await profiles.following(session, handle, actor.user_id if actor else None, limit=limit, offset=offset)
        return PersonPage(items=[person_out(p) for p in found], limit=limit, offset=offset)

    @get("/{handle:str}/boards")
    async def boards(self, handle: str, session: AsyncSession, actor: Actor | None) -> list[BoardOut]:
        """A user's public boards (all of them, to the user)."""
        owner = await profiles.profile_or_404(session, handle)
        return [board_out(b, owner.handle) for b in await engagement.list_boards(session, owner.user_id, actor.user_id if actor else None)]

    @put("/{handle:str}/ban", guards=[login_required])
    async def ban(self, handle: str, data: BanIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> BanOut:
        """Platform staff bar a user from commenting and posting until `until`, with a reason."""
        data = await strict_body(request, data)
        profile = await profiles.set_ban(session, runtime, actor, handle, until=data.until, reason=data.reason)
        await session.commit()
        return BanOut(handle=profile.handle, banned_until=profile.banned_until, ban_reason=profile.ban_reason)

    @delete("/{handle:str}/ban", guards=[login_required], status_code=200)
    async def unban(self, handle: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> BanOut:
        """Platform staff lift a ban."""
        profile = await profiles.lift_ban(session, runtime, actor, handle)
        await session.commit()
        return BanOut(handle=profile.handle, banned_until=profile.banned_until, ban_reason=profile.ban_reason)


class BrandFollowOut(msgspec.Struct):
    following: bool
    follower_count: int


class BrandFollowController(Controller):
    path = "/brands"
    tags = ["notes: people"]

    @get("/{slug:str}/follow")
    async def state(self, slug: str, session: AsyncSession, actor: Actor | None) -> BrandFollowOut:
        """A brand's follower count, and whether you follow it."""
        brand_id = await profiles.brand_id_of(session, slug)
        state = await profiles.brand_follow_state(session, actor.user_id if actor else None, brand_id)
        return BrandFollowOut(following=state.following, follower_count=state.follower_count)

    @post("/{slug:str}/follow", guards=[login_required], status_code=200)
    async def follow(self, slug: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> BrandFollowOut:
        """Follow a brand; following again changes nothing."""
        state = await profiles.follow_brand(session, runtime, require_actor(actor).user_id, slug)
        await session.commit()
        return BrandFollowOut(following=state.following, follower_count=state.follower_count)

    @delete("/{slug:str}/follow", guards=[login_required], status_code=200)
    async def unfollow(self, slug: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> BrandFollowOut:
        state = await profiles.unfollow_brand(session, runtime, require_actor(actor).user_id, slug)
        await session.commit()
        return BrandFollowOut(following=state.following, follower_count=state.follower_count)


class MeController(Controller):
    path = "/me"
    tags = ["notes: people"]
    guards = [login_required]

    @get("/profile")
    async def my_profile(self, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> MyProfileOut:
        """Your notes profile (made on first use), with any ban on you."""
        user_id = require_actor(actor).user_id
        async with runtime.db.session() as writer:  # first use creates it: a GET may write this once
            await profiles.ensure_profile(writer, user_id)
            await writer.commit()
        return await _my_profile(session, user_id)

    @patch("/profile")
    async def update_profile(self, data: ProfilePatch, request: Request, session: AsyncSession, actor: Actor | None) -> MyProfileOut:
        """Change your @handle (3-30 of a-z, 0-9, _ and ., unique) or bio."""
        data = await strict_body(request, data)
        user_id = require_actor(actor).user_id
        await profiles.update_own_profile(session, user_id, handle=data.handle, bio=data.bio)
        out = await _my_profile(session, user_id)
        await session.commit()
        return out

    @get("/boards")
    async def my_boards(self, session: AsyncSession, actor: Actor | None) -> list[BoardOut]:
        """Your boards, private ones included, oldest first."""
        user_id = require_actor(actor).user_id
        handle = await _handle_of(session, user_id)
        return [board_out(b, handle) for b in await engagement.list_boards(session, user_id, user_id)]

    @get("/likes")
    async def my_likes(self, session: AsyncSession, actor: Actor | None, limit: Limit = 20, offset: Offset = 0) -> NoteCardPage:
        """Notes you liked, last liked first."""
        user_id = require_actor(actor).user_id
        ids = await engagement.liked_note_ids(session, user_id, limit=limit, offset=offset)
        return NoteCardPage(items=await note_cards(session, ids), limit=limit, offset=offset)

    @get("/collects")
    async def my_collects(self, session: AsyncSession, actor: Actor | None, limit: Limit = 20, offset: Offset = 0) -> NoteCardPage:
        """Notes you collected, in every board, last saved first."""
        user_id = require_actor(actor).user_id
        ids = await engagement.collected_note_ids(session, user_id, limit=limit, offset=offset)
        return NoteCardPage(items=await note_cards(session, ids), limit=limit, offset=offset)


async def _my_profile(session: AsyncSession, user_id: int) -> MyProfileOut:
    profile = await session.get(NotesProfile, user_id)
    assert profile is not None
    person = (await profiles.people(session, [profile], user_id))[0]
    return MyProfileOut(profile=profile_out(person), banned_until=profile.banned_until, ban_reason=profile.ban_reason)


ENGAGEMENT_CONTROLLERS = (NoteEngagementController, CommentController, BoardController, PeopleController, BrandFollowController, MeController)
