"""The notes API's answers and bodies (msgspec structs: the stable contract). Request
bodies for notes themselves (`NoteIn`, `NotePatch`, `TagIn`, `LocationIn`) live in
`plugins.notes.notes`, next to the rules that check them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from plugins.notes.notes import Segment, TagIn


class SizeOut(msgspec.Struct):
    url: str
    width: int
    height: int


class ImageOut(msgspec.Struct):
    position: int
    url: str
    width: int
    height: int
    sizes: dict[str, SizeOut]  # "320", "960": resized WebP copies
    alt: str = ""


class VideoOut(msgspec.Struct):
    url: str  # the uploaded file (under /media) or the external address
    external: bool  # true for a video_url
    poster: ImageOut | None


class LocationOut(msgspec.Struct):
    place_name: str | None
    city: str | None
    lat_e6: int | None
    lng_e6: int | None


class AuthorOut(msgspec.Struct):
    user_id: int
    handle: str
    display_name: str
    avatar_url: str | None = None


class TopicOut(msgspec.Struct):
    key: str  # its page: GET /api/v1/notes/topics/{key}
    name: str
    note_count: int  # published public notes


class MentionOut(msgspec.Struct):
    user_id: int
    handle: str


class BrandOut(msgspec.Struct):
    id: int
    slug: str
    name: str


class ProductTagOut(msgspec.Struct):
    """A tagged product, and whether it can be bought now."""

    variant_id: int
    product_id: int
    product_slug: str
    title: str
    sku: str
    options: dict[str, str]
    brand: BrandOut
    prices: dict[str, int]  # currency -> amount in minor units (read live at checkout)
    image_url: str | None
    available: bool  # the product is active and the variant sold
    image_position: int | None = None
    x_ppm: int | None = None
    y_ppm: int | None = None


class CountsOut(msgspec.Struct):
    likes: int
    collects: int
    comments: int
    shares: int


class ModerationOut(msgspec.Struct):
    verdict: str  # allow | hold | block
    reasons: list[str]


class NoteOut(msgspec.Struct, kw_only=True):
    id: int
    url: str
    kind: str
    title: str
    body: str
    segments: list[Segment]  # the body as text / topic / mention pieces, for rendering links
    topics: list[TopicOut]
    mentions: list[MentionOut]
    author: AuthorOut
    status: str  # draft | scheduled | published | hidden
    visibility: str  # public | private
    publish_at: datetime | None
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    images: list[ImageOut]
    video: VideoOut | None
    location: LocationOut | None
    sponsored: bool
    sponsored_label: dict[str, str] | None  # {"zh-CN": "广告", "en": "Sponsored"} when sponsored
    sponsors: list[BrandOut]  # the brands disclosed
    products: list[ProductTagOut]
    counts: CountsOut
    moderation: ModerationOut | None = None  # the author and staff only
    protected_until: datetime | None = None  # the author only: deleting or hiding waits until then


class NoteCardOut(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    title: str
    cover: ImageOut | None  # first image, or a video's poster
    author: AuthorOut
    sponsored: bool
    likes: int
    status: str
    visibility: str
    published_at: datetime | None


class UserNotesOut(msgspec.Struct):
    author: AuthorOut
    items: list[NoteCardOut]
    next_cursor: str | None  # pass it back as ?cursor= for the next page; null at the end


class TopicPageOut(msgspec.Struct):
    topic: TopicOut
    items: list[NoteCardOut]
    next_cursor: str | None


class MyNotesOut(msgspec.Struct):
    items: list[NoteCardOut]
    limit: int
    offset: int


class CaseOut(msgspec.Struct, kw_only=True):
    id: int
    kind: str  # note | comment
    ref_id: int
    verdict: str  # hold | block
    reasons: list[str]
    status: str  # open | allowed | blocked
    created_at: datetime
    decided_at: datetime | None
    decided_by: int | None
    author_user_id: int | None = None
    text: str | None = None  # what was judged: a note's title, body and place, or a comment


# ---------------------------------------------------------------- bodies


class PublishIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    publish_at: datetime | None = None  # later: scheduled; absent or past: now


class TagsIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    tags: list[TagIn]


class CartLineIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    variant_id: int
    quantity: Annotated[int, msgspec.Meta(ge=1)] = 1
    cart_token: Annotated[str, msgspec.Meta(max_length=64)] | None = None  # else the caller's open cart, else a new one
    visitor_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None  # headless clients; browsers send the zc_vid cookie
