"""The double-entry ledger: balanced, idempotent postings, statements, and its check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, text

from core.errors import ValidationFailed
from core.ledger import service as ledger
from core.ledger.models import AccountKind as K
from core.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from core.ledger.service import Posting, Txn


def accrue(key: str, brand: int, creator: int, amount: int, currency: str = "CNY") -> Txn:
    return Txn(key=key, kind="commission.accrued", currency=currency, postings=[Posting(K.BRAND_PAYABLE, brand, amount), Posting(K.CREATOR_PENDING, creator, -amount)])


async def test_a_balanced_transaction_moves_both_balances_once(zc_runtime):
    async with zc_runtime.db.session() as s:
        first = await ledger.post(s, accrue("c:1", brand=7, creator=42, amount=1_250))
        again = await ledger.post(s, accrue("c:1", brand=7, creator=42, amount=1_250))  # a retried job
        await s.commit()
    assert first is not None and again is None
    async with zc_runtime.db.read_session() as s:
        assert await ledger.balance(s, K.BRAND_PAYABLE, 7, "CNY") == 1_250
        assert await ledger.balance(s, K.CREATOR_PENDING, 42, "CNY") == -1_250
        assert await ledger.balance(s, K.CREATOR_PENDING, 42, "USD") == 0
        assert await ledger.check(s) == []


async def test_a_batch_posts_only_new_keys_and_nets_balances(zc_runtime):
    async with zc_runtime.db.session() as s:
        await ledger.post(s, accrue("c:1", 1, 10, 100))
        posted = await ledger.post_many(s, [accrue("c:1", 1, 10, 100), accrue("c:2", 1, 10, 300), accrue("c:3", 2, 11, 50, "USD")])
        await ledger.post(s, Txn(key="a:2", kind="commission.approved", currency="CNY", postings=[Posting(K.CREATOR_PENDING, 10, 300), Posting(K.CREATOR_AVAILABLE, 10, -300)]))
        await ledger.post(s, Txn(
            key="p:1", kind="payout", currency="CNY",
            postings=[Posting(K.CREATOR_AVAILABLE, 10, 300), Posting(K.PLATFORM_FEE, 0, -30), Posting(K.PAYOUTS, 0, -270)],
        ))
        await s.commit()
    assert set(posted) == {"c:2", "c:3"}
    async with zc_runtime.db.read_session() as s:
        assert await ledger.balances(s, [K.CREATOR_PENDING, K.CREATOR_AVAILABLE], 10) == {(K.CREATOR_PENDING, "CNY"): -100, (K.CREATOR_AVAILABLE, "CNY"): 0}
        assert await ledger.balance(s, K.PLATFORM_FEE, 0, "CNY") == -30
        lines = await ledger.statement(s, K.CREATOR_PENDING, 10, "CNY")
        assert [(ln.key, ln.amount_minor, ln.balance_after_minor) for ln in lines] == [("a:2", 300, -100), ("c:2", -300, -400), ("c:1", -100, -100)]
        assert await ledger.statement(s, K.CREATOR_PENDING, 10, "CNY", limit=1, offset=1) == lines[1:2]
        assert await ledger.check(s) == []


@pytest.mark.parametrize(
    "postings",
    [
        [Posting(K.BRAND_PAYABLE, 1, 100), Posting(K.CREATOR_PENDING, 2, -99)],  # does not balance
        [Posting(K.BRAND_PAYABLE, 1, 100)],  # one leg
        [Posting(K.BRAND_PAYABLE, 1, 100.0), Posting(K.CREATOR_PENDING, 2, -100.0)],  # floats
        [Posting(K.BRAND_PAYABLE, 1, True), Posting(K.CREATOR_PENDING, 2, -1)],
        [Posting(K.BRAND_PAYABLE, 1, 0), Posting(K.CREATOR_PENDING, 2, 0)],
        [Posting("cash", 1, 5), Posting(K.CREATOR_PENDING, 2, -5)],  # unknown account kind
        [Posting(K.PLATFORM_FEE, 3, 5), Posting(K.CREATOR_PENDING, 2, -5)],  # platform accounts have owner 0
        [Posting(K.BRAND_PAYABLE, 0, 5), Posting(K.CREATOR_PENDING, 2, -5)],
    ],
)
async def test_bad_transactions_are_refused_and_nothing_is_written(zc_runtime, postings):
    async with zc_runtime.db.session() as s:
        with pytest.raises(ValidationFailed):
            await ledger.post_many(s, [accrue("ok", 1, 2, 10), Txn(key="bad", kind="x", currency="CNY", postings=postings)])
        await s.commit()
    async with zc_runtime.db.read_session() as s:
        assert await ledger.balance(s, K.BRAND_PAYABLE, 1, "CNY") == 0


@pytest.mark.parametrize("currency", ["cny", "XXX", "", None])
async def test_currency_must_be_an_iso_code(zc_runtime, currency):
    async with zc_runtime.db.session() as s:
        with pytest.raises(ValidationFailed):
            await ledger.post(s, accrue("c", 1, 2, 10, currency))


async def test_the_same_key_twice_in_one_batch_is_refused(zc_runtime):
    async with zc_runtime.db.session() as s:
        with pytest.raises(ValidationFailed):
            await ledger.post_many(s, [accrue("c", 1, 2, 10), accrue("c", 1, 2, 10)])


async def test_check_finds_a_drifted_balance_and_an_unbalanced_transaction(zc_runtime):
    async with zc_runtime.db.session() as s:
        await ledger.post(s, accrue("c:1", 1, 2, 500))
        await s.commit()
    async with zc_runtime.db.session() as s:
        await s.execute(text("UPDATE ledger_account SET balance_minor = balance_minor + 1 WHERE kind = 'brand_payable'"))
        await s.execute(text("INSERT INTO ledger_entry (transaction_id, account_id, amount_minor) SELECT t.id, a.id, 7 FROM ledger_transaction t, ledger_account a WHERE a.kind = 'creator_pending'"))
        await s.commit()
    async with zc_runtime.db.read_session() as s:
        problems = await ledger.check(s)
    assert any("transaction c:1: entries sum to 7" in p for p in problems), problems
    assert any("account brand_payable:1:CNY: balance 501 but its entries sum to 500" in p for p in problems), problems
    assert any("account creator_pending:2:CNY: balance -500 but its entries sum to -493" in p for p in problems), problems


def test_cli_ledger_check(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHONGCAO_")}
    env["ZHONGCAO_VAR_DIR"] = str(tmp_path)
    zhongcao = str(Path(sys.executable).with_name("zhongcao"))
    assert subprocess.run([zhongcao, "db", "upgrade"], env=env, capture_output=True, timeout=120).returncode == 0
    ok = subprocess.run([zhongcao, "ledger", "check"], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "ledger ok" in ok.stdout, ok.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "zhongcao.db") as db:
        db.execute("INSERT INTO ledger_account (kind, owner_id, currency, balance_minor) VALUES ('payouts', 0, 'CNY', 5)")
    bad = subprocess.run([zhongcao, "ledger", "check"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "account payouts:0:CNY: balance 5 but its entries sum to 0" in bad.stderr


# ---------------------------------------------------------------- invariants

CREATORS = (101, 102, 103)
BRANDS = (1, 2)
step = st.one_of(
    st.tuples(st.just("accrue"), st.sampled_from(BRANDS), st.sampled_from(CREATORS), st.integers(1, 10**9)),
    st.tuples(st.just("approve"), st.sampled_from(CREATORS), st.integers(1, 10**9)),
    st.tuples(st.just("reverse"), st.sampled_from(BRANDS), st.sampled_from(CREATORS), st.integers(1, 10**9)),
    st.tuples(st.just("payout"), st.sampled_from(CREATORS), st.integers(0, 5_000)),
    st.tuples(st.just("replay"), st.integers(0, 50)),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=25), batch=st.booleans())
async def test_ledger_invariants_under_random_postings(zc_runtime, steps, batch):
    """Random accruals, approvals, reversals, payouts (fee in basis points) and replays of
    earlier keys: after every step each transaction balances, each balance equals its
    entries, all balances sum to zero, and they match a plain model of the same moves."""
    async with zc_runtime.db.session() as s:
        for table in (LedgerEntry, LedgerTransaction, LedgerAccount):
            await s.execute(delete(table))
        await s.commit()
    model: dict[tuple[str, int], int] = {}
    posted: list[Txn] = []

    def move(kind: str, owner: int, amount: int) -> None:
        model[(kind, owner)] = model.get((kind, owner), 0) + amount

    for n, op in enumerate(steps):
        txn: Txn | None = None
        if op[0] == "accrue":
            _, brand, creator, amount = op
            txn = accrue(f"accrue:{n}", brand, creator, amount)
        elif op[0] == "approve":
            _, creator, amount = op
            pending = -model.get((K.CREATOR_PENDING, creator), 0)
            if pending > 0:
                amount = min(amount, pending)
                txn = Txn(key=f"approve:{n}", kind="commission.approved", currency="CNY", postings=[Posting(K.CREATOR_PENDING, creator, amount), Posting(K.CREATOR_AVAILABLE, creator, -amount)])
        elif op[0] == "reverse":  # a refund claws back, even below zero (netted later)
            _, brand, creator, amount = op
            txn = Txn(key=f"reverse:{n}", kind="commission.reversed", currency="CNY", postings=[Posting(K.CREATOR_AVAILABLE, creator, amount), Posting(K.BRAND_PAYABLE, brand, -amount)])
        elif op[0] == "payout":
            _, creator, fee_bps = op
            gross = -model.get((K.CREATOR_AVAILABLE, creator), 0)
            fee = gross * fee_bps // 10_000
            if gross > 0:
                legs = [Posting(K.CREATOR_AVAILABLE, creator, gross), Posting(K.PAYOUTS, 0, -(gross - fee))]
                if fee:
                    legs.append(Posting(K.PLATFORM_FEE, 0, -fee))
                if gross - fee == 0:
                    legs = [Posting(K.CREATOR_AVAILABLE, creator, gross), Posting(K.PLATFORM_FEE, 0, -fee)]
                txn = Txn(key=f"payout:{n}", kind="payout", currency="CNY", postings=legs)
        elif posted:  # replay an earlier transaction: must change nothing
            again = posted[op[1] % len(posted)]
            async with zc_runtime.db.session() as s:
                assert await ledger.post(s, again) is None
                await s.commit()
        if txn is not None:
            async with zc_runtime.db.session() as s:
                result = await (ledger.post_many(s, [txn]) if batch else ledger.post(s, txn))
                await s.commit()
            assert result
            posted.append(txn)
            for p in txn.postings:
                move(p.kind, p.owner_id, p.amount_minor)
        async with zc_runtime.db.read_session() as s:
            assert await ledger.check(s) == []
            rows = (await s.execute(text("SELECT kind, owner_id, balance_minor FROM ledger_account"))).all()
        assert sum(b for _, _, b in rows) == 0
        assert {(k, o): b for k, o, b in rows if b} == {key: v for key, v in model.items() if v}
