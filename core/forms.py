"""Reading HTML form fields (storefront and portal alike): text, whole numbers, amounts in major units.

Forms send strings; services want exact types. These turn one into the other or raise
ValidationFailed with a message the page shows next to the form. Amounts are parsed
exactly (no floats): "12.5" in CNY is 1250 minor units, "12.555" is refused.
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import ValidationFailed
from core.money import exponent

_AMOUNT_RE = re.compile(r"\d{1,13}(?:\.\d+)?")
_INT_RE = re.compile(r"[+-]?\d{1,9}")


def text(data: dict[str, Any], name: str) -> str:
    value = data.get(name, "")
    if isinstance(value, list):  # a repeated field: the last one wins, as browsers send them
        value = value[-1] if value else ""
    return value if isinstance(value, str) else ""


def values(data: dict[str, Any], name: str) -> list[str]:
    """Every value of a repeated field (checkboxes)."""
    value = data.get(name)
    if value is None:
        return []
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]


def whole_number(raw: str, what: str = "quantity") -> int:
    raw = raw.strip()
    if not _INT_RE.fullmatch(raw):
        raise ValidationFailed(f"{what} must be a whole number")
    return int(raw)


def ids(raw: list[str]) -> list[int]:
    out = []
    for value in raw:
        if not value.strip().isdigit() or len(value.strip()) > 18:
            raise ValidationFailed("unknown line")
        out.append(int(value.strip()))
    return out


def amount_minor(raw: str, currency: str) -> int:
    """'12.50' -> 1250 (CNY); at most as many decimals as the currency has."""
    cleaned = raw.strip().replace(",", "").replace(" ", "").lstrip("¥$€£")
    if not _AMOUNT_RE.fullmatch(cleaned):
        raise ValidationFailed("enter an amount such as 12.50")
    whole, _, frac = cleaned.partition(".")
    exp = exponent(currency)
    if len(frac) > exp:
        raise ValidationFailed("enter an amount such as 12.50")
    amount = int(whole) * 10**exp + (int(frac.ljust(exp, "0")) if exp else 0)
    if amount <= 0:
        raise ValidationFailed("enter an amount above zero")
    return amount


def major(amount_minor: int, currency: str) -> str:
    """1250 -> '12.50': the value an amount field is pre-filled with."""
    exp = exponent(currency)
    if not exp:
        return str(amount_minor)
    whole, frac = divmod(amount_minor, 10**exp)
    return f"{whole}.{frac:0{exp}d}"
