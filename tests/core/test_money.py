"""Money: integer minor units, currency exponents, exact allocation (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money import CurrencyMismatch, Money, exponent

currencies = st.sampled_from(["CNY", "USD", "JPY", "KWD", "EUR"])
amounts = st.integers(min_value=-(10**15), max_value=10**15)


def test_exponents():
    assert (exponent("JPY"), exponent("CNY"), exponent("KWD")) == (0, 2, 3)


def test_floats_are_refused():
    with pytest.raises(TypeError):
        Money(12.5, "CNY")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(100, "CNY") * 1.5  # type: ignore[operator]


def test_unknown_or_lowercase_currency_is_refused():
    with pytest.raises(ValueError):
        Money(1, "XXX")
    with pytest.raises(ValueError):
        Money(1, "cny")


def test_mixed_currencies_never_add():
    with pytest.raises(CurrencyMismatch):
        Money(1, "CNY") + Money(1, "USD")


@pytest.mark.parametrize(
    ("money", "text"),
    [(Money(123456, "CNY"), "¥1,234.56"), (Money(1500, "JPY"), "¥1,500"), (Money(1234, "KWD"), "1.234 KWD"), (Money(-5, "USD"), "-$0.05")],
)
def test_format(money, text):
    assert money.format() == text


@given(amounts, amounts, currencies)
def test_addition_and_subtraction_are_exact(a, b, cur):
    assert (Money(a, cur) + Money(b, cur) - Money(b, cur)) == Money(a, cur)


@given(amounts, currencies, st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12).filter(lambda r: sum(r) > 0))
def test_allocation_sums_exactly_and_is_fair(amount, cur, ratios):
    parts = Money(amount, cur).allocate(ratios)
    assert sum(p.amount_minor for p in parts) == amount
    assert all(p.currency == cur for p in parts)
    total = sum(ratios)
    for part, ratio in zip(parts, ratios):
        exact = amount * ratio / total  # only for the bound check, never for money
        assert abs(part.amount_minor - exact) < 1 + 1e-9 * abs(amount)
        if ratio == 0:
            assert part.amount_minor == 0


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10_000))
def test_percent_rounds_half_up_within_one_unit(amount, bps):
    result = Money(amount, "CNY").percent_of(bps).amount_minor
    assert abs(result * 10_000 - amount * bps) <= 5_000


def test_allocation_refuses_bad_ratios():
    with pytest.raises(ValueError):
        Money(100, "CNY").allocate([])
    with pytest.raises(ValueError):
        Money(100, "CNY").allocate([0, 0])
    with pytest.raises(ValueError):
        Money(100, "CNY").allocate([1, -1])
