from __future__ import annotations

from typing import Annotated

import msgspec

# A database id: positive and within BIGINT, so a huge number is a 400, not a driver error.
Id = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]


class BrandOut(msgspec.Struct):
    id: int
    slug: str
    name: str
    description: str


class BrandIn(msgspec.Struct, forbid_unknown_fields=True):
    slug: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    description: Annotated[str, msgspec.Meta(max_length=5000)] = ""
    owner_id: Id | None = None


class BrandMemberIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: Id
    role: str = "staff"


class BrandMemberOut(msgspec.Struct):
    brand_id: int
    user_id: int
    role: str


class Page(msgspec.Struct):
    items: list[BrandOut]
    limit: int
    offset: int
