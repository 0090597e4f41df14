"""Who is acting, and the object-level checks services use."""

from __future__ import annotations

import msgspec

from core.errors import NotAuthenticated, PermissionDenied


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """The authenticated user as services see it."""

    user_id: int
    email: str
    display_name: str
    locale: str
    roles: frozenset[str]
    brand_roles: dict[int, str] = msgspec.field(default_factory=dict)  # brand_id -> owner|staff

    @property
    def is_staff(self) -> bool:
        return "staff" in self.roles

    @property
    def brand_ids(self) -> frozenset[int]:
        return frozenset(self.brand_roles)

    def has_role(self, role: str) -> bool:
        return role in self.roles


def require_actor(actor: Actor | None) -> Actor:
    if actor is None:
        raise NotAuthenticated("log in to continue")
    return actor


def require_role(actor: Actor | None, role: str) -> Actor:
    actor = require_actor(actor)
    if role not in actor.roles and not actor.is_staff:
        raise PermissionDenied(f"this needs the {role} role")
    return actor


def require_staff(actor: Actor | None) -> Actor:
    actor = require_actor(actor)
    if not actor.is_staff:
        raise PermissionDenied("platform staff only")
    return actor


def can_act_for_brand(actor: Actor | None, brand_id: int, role: str | None = None) -> bool:
    if actor is None:
        return False
    have = actor.brand_roles.get(brand_id)
    return have is not None and (role is None or have == role or have == "owner")


def require_brand_member(actor: Actor | None, brand_id: int, role: str | None = None) -> Actor:
    """A brand member acts only on their own brand; staff are not exempt here on purpose:
    platform operators act through explicit staff services, never as a brand."""
    actor = require_actor(actor)
    if not can_act_for_brand(actor, brand_id, role):
        raise PermissionDenied("you are not a member of this brand")
    return actor
