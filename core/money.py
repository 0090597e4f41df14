"""Money as integer minor units plus an ISO 4217 currency. Never a float."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# ISO 4217 minor-unit exponents; currencies not listed use 2.
_EXPONENTS: dict[str, int] = {
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}
_KNOWN = set(_EXPONENTS) | {
    "AED", "AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "IDR",
    "ILS", "INR", "MOP", "MXN", "MYR", "NOK", "NZD", "PHP", "PLN", "RUB", "SAR", "SEK", "SGD",
    "THB", "TRY", "TWD", "USD", "ZAR",
}


class CurrencyMismatch(ValueError):
    pass


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def validate_currency(code: str) -> str:
    code = code.upper()
    if code not in _KNOWN:
        raise ValueError(f"unsupported currency {code!r}")
    return code


def allocate_minor(amount: int, ratios: Sequence[int]) -> list[int]:
    """Split an integer amount in proportion to integer ratios; the parts sum exactly.

    Remainders go one minor unit at a time to the largest fractional shares (ties to
    the earlier part), so no unit is lost or invented.
    """
    if not ratios or any(r < 0 for r in ratios) or sum(ratios) == 0:
        raise ValueError("ratios must be non-negative integers with a positive sum")
    total = sum(ratios)
    sign = -1 if amount < 0 else 1
    amount = abs(amount)
    shares = [amount * r // total for r in ratios]
    remainders = [amount * r % total for r in ratios]
    left = amount - sum(shares)
    order = sorted(range(len(ratios)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        shares[i] += 1
    return [sign * s for s in shares]


@dataclass(frozen=True, slots=True, order=False)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise TypeError("amount_minor must be an int (minor units), never a float")
        if self.currency != validate_currency(self.currency):
            raise ValueError(f"currency must be upper-case ISO 4217, got {self.currency!r}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("Money can only be multiplied by an int; use percent_of() for rates")
        return Money(self.amount_minor * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor <= other.amount_minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor > other.amount_minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor >= other.amount_minor

    def percent_of(self, basis_points: int) -> Money:
        """Rate in basis points (1250 = 12.5%), rounded half away from zero."""
        num = self.amount_minor * basis_points
        q, r = divmod(abs(num), 10_000)
        if r * 2 >= 10_000:
            q += 1
        return Money(q if num >= 0 else -q, self.currency)

    def allocate(self, ratios: Sequence[int]) -> list[Money]:
        """Split into parts proportional to integer ratios; the parts sum exactly to self."""
        return [Money(part, self.currency) for part in allocate_minor(self.amount_minor, ratios)]

    def format(self, locale: str = "en") -> str:
        exp = exponent(self.currency)
        sign = "-" if self.amount_minor < 0 else ""
        whole, frac = divmod(abs(self.amount_minor), 10**exp) if exp else (abs(self.amount_minor), 0)
        number = f"{whole:,}" + (f".{frac:0{exp}d}" if exp else "")
        symbol = {"CNY": "¥", "JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "HKD": "HK$"}.get(self.currency)
        return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {self.currency}"

    def __str__(self) -> str:
        return self.format()
