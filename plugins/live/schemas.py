"""The live API's bodies and answers (msgspec structs: the stable contract). Ranges (a
countdown of 10-300 s, a deal price under the regular price...) are the service's rules
and answer 422 with the field's name; bodies that do not decode answer 400."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from core.orders.schemas import AddressIn

Currency = Annotated[str, msgspec.Meta(min_length=3, max_length=3)]


class RoomIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A room of the brand: hosted by the caller, or by a creator (`host`: her handle)."""

    title: str
    scheduled_at: datetime | None = None  # default: now
    host: str | None = None
    cover_url: str = ""


class PinIn(msgspec.Struct, forbid_unknown_fields=True):
    product_id: int


class MemberIn(msgspec.Struct, forbid_unknown_fields=True):
    """A co-host or a moderator: a creator handle or an account's e-mail."""

    handle: str
    role: str  # co_host | moderator


class DealIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    variant_id: int
    deal_price_minor: int
    quantity: int
    per_customer_limit: int = 1
    countdown_seconds: int = 30
    duration_seconds: int = 300
    currency: Currency = "CNY"
    location_id: int | None = None  # default: the brand's main location


class BuyIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    address: AddressIn
    quantity: int = 1


class DealOut(msgspec.Struct):
    id: int
    room_id: int
    product_id: int
    variant_id: int
    currency: str
    deal_price_minor: int
    regular_price_minor: int | None
    quantity: int
    left: int  # units viewers can buy now
    per_customer_limit: int
    countdown_seconds: int
    duration_seconds: int
    state: str  # ready | countdown | running | ended
    starts_at: datetime | None
    ends_at: datetime | None


class RoomOut(msgspec.Struct, kw_only=True):
    id: int
    brand_slug: str
    brand_name: str
    host_user_id: int
    host_name: str
    title: str
    cover_url: str
    status: str  # scheduled | live | ended
    scheduled_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    playback_url: str
    pinned: list[int]
    deals: list[DealOut]
    ingest_key: str | None = None  # the host's and the brand's staff's only: the encoder's stream key
    my_role: list[str] = msgspec.field(default_factory=list)


class MemberOut(msgspec.Struct):
    room_id: int
    user_id: int
    role: str


class PurchaseOut(msgspec.Struct):
    """A purchase held: pay it with the core checkout API within the checkout's time."""

    claim_id: int
    checkout_token: str
    currency: str
    total_minor: int
    checkout_expires_at: datetime
    pay_url: str
    payment_page: str


class ChapterOut(msgspec.Struct):
    product_id: int
    start_ms: int
    end_ms: int | None
    deal_id: int | None


class ReplayOut(msgspec.Struct):
    room_id: int
    replay_url: str
    chapters: list[ChapterOut]
