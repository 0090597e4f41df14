from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

Email = Annotated[str, msgspec.Meta(max_length=320)]


class SignupIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Annotated[str, msgspec.Meta(max_length=256)]
    display_name: Annotated[str, msgspec.Meta(max_length=80)]
    locale: str = "zh-CN"
    creator: bool = False


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Annotated[str, msgspec.Meta(max_length=256)]


class AccountIn(msgspec.Struct, forbid_unknown_fields=True):
    """What to change; a field left out (or null) stays as it is."""

    display_name: Annotated[str, msgspec.Meta(max_length=80)] | None = None
    locale: Annotated[str, msgspec.Meta(max_length=10)] | None = None


class PasswordIn(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Annotated[str, msgspec.Meta(max_length=256)]
    new_password: Annotated[str, msgspec.Meta(max_length=256)]


class TokenOut(msgspec.Struct):
    access_token: str
    token_type: str
    expires_at: datetime


class BrandRoleOut(msgspec.Struct):
    brand_id: int
    role: str


class MeOut(msgspec.Struct):
    id: int
    email: str
    display_name: str
    locale: str
    roles: list[str]
    brands: list[BrandRoleOut]
