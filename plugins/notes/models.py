"""The notes plugin's tables (prefix `notes_`): notes with their images, topics, mentions
and product tags; the engagement on them (likes, collects into boards, comments, shares,
follows, impressions); authors' public profiles; moderation.

Counters on a note or profile are denormalised for reading and are only ever changed by
a conditional statement in the same transaction as the row they count (a like row
inserted -> like_count + 1), so a double click counts once and an unlike undoes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, IdMixin, TimestampMixin, utcnow

USER_FK = "user_account.id"


class NoteKind:
    IMAGE = "image"
    VIDEO = "video"


class NoteStatus:
    DRAFT = "draft"
    SCHEDULED = "scheduled"  # published by a job at `publish_at`
    PUBLISHED = "published"
    HIDDEN = "hidden"  # by moderation (held for review, or blocked)
    DELETED = "deleted"  # by its author (soft: counters and attributions keep their note)


class Visibility:
    PUBLIC = "public"
    PRIVATE = "private"  # only its author sees it


class Verdict:
    ALLOW = "allow"
    HOLD = "hold"  # waits for staff review
    BLOCK = "block"


class NotesProfile(Base):
    """A user's public face in notes: the @handle mentions use, avatar, bio, counts.
    Created on first use; a creator's handle is their creator profile's."""

    __tablename__ = "notes_profile"
    __table_args__ = (CheckConstraint("follower_count >= 0 AND following_count >= 0 AND note_count >= 0 AND likes_received >= 0", name="counts"),)

    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"), primary_key=True)
    handle: Mapped[str] = mapped_column(String(40), unique=True)
    bio: Mapped[str] = mapped_column(Text, default="")
    avatar_path: Mapped[str | None] = mapped_column(String(255))
    follower_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    following_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    note_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))  # published, public
    likes_received: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))  # likes + collects on their notes
    banned_until: Mapped[datetime | None]  # may not comment or post while set and in the future
    ban_reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Note(IdMixin, TimestampMixin, Base):
    __tablename__ = "notes_note"
    __table_args__ = (
        CheckConstraint("like_count >= 0 AND collect_count >= 0 AND comment_count >= 0 AND share_count >= 0 AND impression_count >= 0", name="counts"),
        CheckConstraint("kind IN ('image', 'video')", name="kind"),
        Index("ix_notes_note_feed", "status", "visibility", "published_at"),
        Index("ix_notes_note_author_published", "author_user_id", "published_at"),
    )

    author_user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(5), default=NoteKind.IMAGE)
    title: Mapped[str] = mapped_column(String(80))  # at most 20 characters (checked by the service)
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default=NoteStatus.DRAFT, index=True)
    visibility: Mapped[str] = mapped_column(String(7), default=Visibility.PUBLIC)
    publish_at: Mapped[datetime | None] = mapped_column(index=True)  # scheduled publishing
    published_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    # video: an uploaded file or an external URL, with a poster image
    video_path: Mapped[str | None] = mapped_column(String(255))
    video_url: Mapped[str | None] = mapped_column(String(500))
    poster_path: Mapped[str | None] = mapped_column(String(255))
    # location: a place and a city; coordinates in millionths of a degree (exact, indexable)
    place_name: Mapped[str | None] = mapped_column(String(80))
    city: Mapped[str | None] = mapped_column(String(40), index=True)
    lat_e6: Mapped[int | None] = mapped_column(Integer)
    lng_e6: Mapped[int | None] = mapped_column(Integer)
    # sponsored disclosure: set by the plugin when the author collaborates with a tagged brand
    sponsored: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    sponsored_brand_ids: Mapped[list[Any]] = mapped_column(default=list)
    moderation: Mapped[str] = mapped_column(String(5), default=Verdict.ALLOW)  # the last verdict
    moderation_reasons: Mapped[list[Any]] = mapped_column(default=list)
    like_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    collect_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    comment_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    share_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    impression_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))  # bumped on every change (search documents)


class NoteImage(IdMixin, Base):
    """One image of a note, in order; `sizes` maps a width to its resized copy."""

    __tablename__ = "notes_image"
    __table_args__ = (UniqueConstraint("note_id", "position"),)

    note_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("notes_note.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(255))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sizes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    alt: Mapped[str] = mapped_column(String(200), default="")


class Topic(IdMixin, Base):
    """A #topic; `name` is as first written, `key` its case-folded form (unique)."""

    __tablename__ = "notes_topic"

    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    note_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class NoteTopic(Base):
    __tablename__ = "notes_note_topic"
    __table_args__ = (Index("ix_notes_note_topic_topic", "topic_id", "note_id"),)

    note_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("notes_note.id", ondelete="CASCADE"), primary_key=True)
    topic_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("notes_topic.id", ondelete="CASCADE"), primary_key=True)


class Mention(Base):
    __tablename__ = "notes_mention"

    note_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("notes_note.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"), primary_key=True, index=True)


class ProductTag(IdMixin, Base):
    """A catalog variant tagged on a note, optionally pinned to a point of one image
    (x and y in millionths of its width and height)."""

    __tablename__ = "notes_product_tag"
    __table_args__ = (
        UniqueConstraint("note_id", "variant_id"),
        CheckConstraint("(x_ppm IS NULL OR (x_ppm >= 0 AND x_ppm <= 1000000)) AND (y_ppm IS NULL OR (y_ppm >= 0 AND y_ppm <= 1000000))", name="position"),
        Index("ix_notes_product_tag_product", "product_id", "note_id"),
    )

    note_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("notes_note.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("product.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("variant.id", ondelete="CASCADE"))
    brand_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("brand.id", ondelete="CASCADE"), index=True)
    image_position: Mapped[int | None] = mapped_column(Integer)
    x_ppm: Mapped[int | None] = mapped_column(Integer)
    y_ppm: Mapped[int | None] = mapped_column(Integer)


class NoteTouch(IdMixin, Base):
    """A shopper put a tagged product in their cart from a note ("bought from note"):
    the `attribute_sale` implementation finds it at payment by user or visitor id."""

    __tablename__ = "notes_touch"
    __table_args__ = (Index("ix_notes_touch_user", "user_id", "created_at"), Index("ix_notes_touch_visitor", "visitor_id", "created_at"))

    note_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("notes_note.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("variant.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"))
    visitor_id: Mapped[str | None] = mapped_column(String(36))  # the first-party `zc_vid` cookie
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---------------------------------------------------------------- engagement


class Like(Base):
    __tablename__ = "notes_like"
    __table_args__ = (Index("ix_notes_like_note", "note_id", "created_at"),)

    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"), primary_key=True)
    note_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("notes_note.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Board(IdMixin, Base):
    """A named collection of saved notes (收藏夹)."""

    __tablename__ = "notes_board"
    __table_args__ = (UniqueConstraint("owner_user_id", "name"),)

    owner_user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    private: Mapped[bool] = mapped_column(default=False)
    note_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Collect(Base):
    """A user saved a note, into one of their boards (once per note: moving it changes the board)."""

    __tablename__ = "notes_collect"
    __table_args__ = (Index("ix_notes_collect_board", "board_id", "created_at"), Index("ix_notes_collect_note", "note_id", "created_at"))

    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"), primary_key=True)
    note_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("notes_note.id", ondelete="CASCADE"), primary_key=True)
    board_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("notes_board.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CommentStatus:
    VISIBLE = "visible"
    HIDDEN = "hidden"  # by moderation
    DELETED = "deleted"


class Comment(IdMixin, Base):
    """A comment, or a reply to one (one level deep: a reply's parent is never a reply)."""

    __tablename__ = "notes_comment"
    __table_args__ = (
        CheckConstraint("like_count >= 0 AND reply_count >= 0", name="counts"),
        Index("ix_notes_comment_note", "note_id", "parent_id", "created_at"),
    )

    note_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("notes_note.id", ondelete="CASCADE"))
    author_user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("notes_comment.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default=CommentStatus.VISIBLE)
    like_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    reply_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CommentLike(Base):
    __tablename__ = "notes_comment_like"

    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"), primary_key=True)
    comment_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("notes_comment.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Share(IdMixin, Base):
    """A share (copy link, or a channel): counted, and logged for the feed."""

    __tablename__ = "notes_share"
    __table_args__ = (Index("ix_notes_share_note", "note_id", "created_at"),)

    note_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("notes_note.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(20), default="link")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Follow(Base):
    __tablename__ = "notes_follow"
    __table_args__ = (CheckConstraint("follower_user_id <> followee_user_id", name="not_self"), Index("ix_notes_follow_followee", "followee_user_id", "created_at"))

    follower_user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"), primary_key=True)
    followee_user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BrandFollow(Base):
    """A shopper follows a brand (Xiaohongshu's brand accounts): the brand page shows the
    count and the button."""

    __tablename__ = "notes_brand_follow"
    __table_args__ = (Index("ix_notes_brand_follow_brand", "brand_id", "created_at"),)

    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"), primary_key=True)
    brand_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("brand.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BrandStats(Base):
    """A brand's follower count, kept with each follow (the brand table is the core's)."""

    __tablename__ = "notes_brand_stats"
    __table_args__ = (CheckConstraint("follower_count >= 0", name="followers_not_negative"),)

    brand_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("brand.id", ondelete="CASCADE"), primary_key=True)
    follower_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class Impression(Base):
    """A viewer saw a note's card: one row per (viewer, note), written in batches (the
    feed buffers them), with how many times and when first and last."""

    __tablename__ = "notes_impression"
    __table_args__ = (Index("ix_notes_impression_note", "note_id"),)

    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"), primary_key=True)
    note_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("notes_note.id", ondelete="CASCADE"), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModerationCase(IdMixin, Base):
    """A note or comment held for staff review, and its outcome."""

    __tablename__ = "notes_moderation_case"
    __table_args__ = (Index("ix_notes_moderation_case_open", "status", "created_at"),)

    kind: Mapped[str] = mapped_column(String(8))  # note | comment
    ref_id: Mapped[int] = mapped_column(BigInteger)
    verdict: Mapped[str] = mapped_column(String(5))  # hold | block
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | allowed | blocked
    decided_by: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


MODELS = (NotesProfile, Note, NoteImage, Topic, NoteTopic, Mention, ProductTag, NoteTouch, Like, Board, Collect, Comment, CommentLike, Share, Follow, BrandFollow, BrandStats, Impression, ModerationCase)
