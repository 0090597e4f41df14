"""The group_buy API's bodies and answers (msgspec structs: the stable contract).

Numbers a brand sends for an offer are plain JSON integers here; their ranges (a team of
2 to 50, a price below the solo price...) are the service's rules and answer 422 with
the field's name. Bodies that do not decode (a string for a number, an unknown field)
answer 400 like every other body of the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from core.orders.schemas import AddressIn
from plugins.group_buy.models import DEFAULT_TIME_LIMIT_MINUTES

Currency = Annotated[str, msgspec.Meta(min_length=3, max_length=3)]


# ---------------------------------------------------------------- bodies


class OfferIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A team offer on one of the brand's variants. `auto_complete`: when the time runs
    out with at least the leader paid, the team completes with whoever paid instead of
    failing (off by default)."""

    variant_id: int
    team_price_minor: int
    team_size: int
    currency: Currency | None = None  # default: the platform's currency
    time_limit_minutes: int = DEFAULT_TIME_LIMIT_MINUTES
    per_user_limit: int = 1
    total_limit: int | None = None
    pool_id: int | None = None
    starts_at: datetime | None = None  # default: now
    ends_at: datetime | None = None
    auto_complete: bool = False


class OfferPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Only the fields sent change; `active: false` takes the offer down (open teams run on)."""

    team_price_minor: int | msgspec.UnsetType = msgspec.UNSET
    team_size: int | msgspec.UnsetType = msgspec.UNSET
    time_limit_minutes: int | msgspec.UnsetType = msgspec.UNSET
    per_user_limit: int | msgspec.UnsetType = msgspec.UNSET
    total_limit: int | None | msgspec.UnsetType = msgspec.UNSET
    pool_id: int | None | msgspec.UnsetType = msgspec.UNSET
    ends_at: datetime | None | msgspec.UnsetType = msgspec.UNSET
    auto_complete: bool | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class SeatIn(msgspec.Struct, forbid_unknown_fields=True):
    """Where the team's parcel goes, as in the core checkout (`POST /carts/{token}/checkout`)."""

    address: AddressIn


# ---------------------------------------------------------------- answers


class BrandRefOut(msgspec.Struct):
    slug: str
    name: str


class OfferLimitsOut(msgspec.Struct):
    """What only the brand's staff see."""

    total_limit: int | None
    units_promised: int  # seats promised to open and succeeded teams
    pool_id: int | None
    active: bool
    created_at: datetime
    updated_at: datetime


class OfferOut(msgspec.Struct):
    id: int
    brand: BrandRefOut
    product_id: int
    product_slug: str
    product_title: str
    variant_id: int
    sku: str
    currency: str
    solo_price_minor: int | None
    team_price_minor: int
    team_size: int
    time_limit_minutes: int
    per_user_limit: int
    auto_complete: bool
    starts_at: datetime
    ends_at: datetime | None
    live: bool  # active and within its dates: shoppers can open teams
    limits: OfferLimitsOut | None = None  # the brand's staff only
    warnings: list[str] = msgspec.field(default_factory=list)  # after a create or change: things the brand should know


class MemberOut(msgspec.Struct):
    """A member as other shoppers see her: a name and initials, never an email."""

    display_name: str
    initials: str
    is_leader: bool
    confirmed: bool  # her card is authorized (or charged): not just paying
    joined_at: datetime


class TeamOut(msgspec.Struct):
    id: int
    offer_id: int
    product_title: str
    currency: str
    team_price_minor: int
    status: str  # open | succeeded | failed
    size: int
    seats_taken: int  # seats held, paid or being paid for
    seats_left: int
    confirmed: int  # members whose card is authorized
    expires_at: datetime
    closed_at: datetime | None
    closed_reason: str | None  # full | auto_complete | expired | leader_left
    joinable: bool  # open, in time, the leader has paid and a seat is free
    share_path: str  # the team's storefront page: the share link
    members: list[MemberOut]


class SeatOut(msgspec.Struct):
    """A seat taken: pay for it with the core checkout API within the checkout's time
    (`POST pay_url` with a payment method). The payment is only authorized; it is
    captured when the team fills and voided if it does not."""

    team_id: int
    member_id: int
    checkout_token: str
    currency: str
    total_minor: int
    checkout_expires_at: datetime
    checkout_url: str  # GET: the core checkout
    pay_url: str  # POST {"payment_method": ...}
    payment_intent_url: str  # POST: a client secret for Stripe.js
    confirm_url: str  # POST after 3-D Secure
    cancel_url: str  # POST: give the seat up
    payment_page: str  # the storefront's payment page
    team_url: str  # GET: the team (this API)
    share_path: str  # the team's storefront page


class MyMembershipOut(msgspec.Struct):
    member_id: int
    status: str  # seated (paying) | authorized | paid | left | refunded
    is_leader: bool
    checkout_token: str | None  # to finish paying while `seated`
    joined_at: datetime


class MyTeamOut(msgspec.Struct):
    team: TeamOut
    me: MyMembershipOut
