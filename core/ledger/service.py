"""Posting to the ledger, reading balances and statements, and checking it.

Posting is idempotent by the transaction's key and set-based: a batch of transactions
costs a handful of statements whatever its size (commission runs post many at once).
Account rows are updated in id order, so two concurrent batches cannot deadlock.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, insert, select, tuple_, update

from core.db import dialect_insert, utcnow
from core.errors import ValidationFailed
from core.ledger.models import AccountKind, LedgerAccount, LedgerEntry, LedgerTransaction
from core.money import validate_currency

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

CHUNK = 500  # rows per multi-row INSERT (SQLite allows 32,766 bound values)


@dataclass(frozen=True)
class Posting:
    kind: str
    owner_id: int
    amount_minor: int  # debit positive, credit negative


@dataclass(frozen=True)
class Txn:
    key: str
    kind: str
    currency: str
    postings: Sequence[Posting]
    memo: str | None = None
    ref: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatementLine:
    transaction_id: int
    key: str
    kind: str
    memo: str | None
    ref: dict[str, Any]
    created_at: datetime
    amount_minor: int
    balance_after_minor: int


def _validate(txn: Txn) -> None:
    if not isinstance(txn.key, str) or not 0 < len(txn.key) <= 120:
        raise ValidationFailed("a ledger transaction needs a key of 1-120 characters")
    try:
        if validate_currency(txn.currency) != txn.currency:
            raise ValueError(txn.currency)
    except (ValueError, AttributeError) as exc:
        raise ValidationFailed(f"ledger transaction {txn.key}: currency must be an ISO 4217 code such as CNY") from exc
    if len(txn.postings) < 2:
        raise ValidationFailed(f"ledger transaction {txn.key}: at least two postings")
    for p in txn.postings:
        if isinstance(p.amount_minor, bool) or not isinstance(p.amount_minor, int) or p.amount_minor == 0:
            raise ValidationFailed(f"ledger transaction {txn.key}: amounts are non-zero integers in minor units")
        if p.kind not in AccountKind.ALL:
            raise ValidationFailed(f"ledger transaction {txn.key}: unknown account kind {p.kind!r}")
        if isinstance(p.owner_id, bool) or not isinstance(p.owner_id, int) or p.owner_id < 0 or (p.kind in AccountKind.PLATFORM) != (p.owner_id == 0):
            raise ValidationFailed(f"ledger transaction {txn.key}: platform accounts have owner 0, the others a brand or user id")
    if sum(p.amount_minor for p in txn.postings) != 0:
        raise ValidationFailed(f"ledger transaction {txn.key} does not balance")


def _chunks(rows: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


async def account_ids(session: AsyncSession, wanted: set[tuple[str, int, str]]) -> dict[tuple[str, int, str], int]:
    """Ids of (kind, owner, currency) accounts, opening the missing ones."""
    found: dict[tuple[str, int, str], int] = {}
    keys = sorted(wanted)
    for chunk in _chunks(keys):
        rows = await session.execute(select(LedgerAccount.kind, LedgerAccount.owner_id, LedgerAccount.currency, LedgerAccount.id).where(tuple_(LedgerAccount.kind, LedgerAccount.owner_id, LedgerAccount.currency).in_(chunk)))
        found.update({(k, o, c): i for k, o, c, i in rows})
    missing = [k for k in keys if k not in found]
    for chunk in _chunks(missing):
        await session.execute(
            dialect_insert(session, LedgerAccount.__table__).values([{"kind": k, "owner_id": o, "currency": c, "balance_minor": 0} for k, o, c in chunk]).on_conflict_do_nothing()
        )
        rows = await session.execute(select(LedgerAccount.kind, LedgerAccount.owner_id, LedgerAccount.currency, LedgerAccount.id).where(tuple_(LedgerAccount.kind, LedgerAccount.owner_id, LedgerAccount.currency).in_(chunk)))
        found.update({(k, o, c): i for k, o, c, i in rows})
    return found


@functools.cache
def _insert_transactions(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert_
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert_
    table = LedgerTransaction.__table__
    return dialect_insert_(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.id, table.c.key)


async def post_many(session: AsyncSession, txns: Sequence[Txn]) -> dict[str, int]:
    """Post every transaction whose key is new; returns {key: transaction id} for those
    posted now (a key seen before is skipped: posting twice changes nothing)."""
    if not txns:
        return {}
    keys = [t.key for t in txns]
    if len(set(keys)) != len(keys):
        raise ValidationFailed("the same ledger key twice in one batch")
    for txn in txns:
        _validate(txn)
    now = utcnow()
    # executemany with one cached statement: SQLAlchemy batches the rows into multi-row
    # INSERTs ("insertmanyvalues") without compiling a statement per batch
    rows = await session.execute(
        _insert_transactions(session.bind.dialect.name),
        [{"key": t.key, "kind": t.kind, "currency": t.currency, "memo": t.memo, "ref": dict(t.ref), "created_at": now} for t in txns],
    )
    posted: dict[str, int] = {key: txn_id for txn_id, key in rows}
    fresh = [t for t in txns if t.key in posted]
    if not fresh:
        return posted
    accounts = await account_ids(session, {(p.kind, p.owner_id, t.currency) for t in fresh for p in t.postings})
    entries = []
    deltas: dict[int, int] = defaultdict(int)
    for t in fresh:
        for p in t.postings:
            account_id = accounts[(p.kind, p.owner_id, t.currency)]
            entries.append({"transaction_id": posted[t.key], "account_id": account_id, "amount_minor": p.amount_minor})
            deltas[account_id] += p.amount_minor
    # RETURNING makes asyncpg take the multi-row path too (not one INSERT per row)
    await session.execute(insert(LedgerEntry.__table__).returning(LedgerEntry.__table__.c.id), entries)
    table = LedgerAccount.__table__
    changes = [{"account": a, "delta": d} for a, d in sorted(deltas.items()) if d]
    if changes:
        await session.execute(
            update(table).where(table.c.id == bindparam("account")).values(balance_minor=table.c.balance_minor + bindparam("delta")).execution_options(synchronize_session=False),
            changes,
        )
    return posted


async def post(session: AsyncSession, txn: Txn) -> int | None:
    """Post one transaction; None if its key was posted before."""
    return (await post_many(session, [txn])).get(txn.key)


async def balance(session: AsyncSession, kind: str, owner_id: int, currency: str) -> int:
    value = (
        await session.execute(select(LedgerAccount.balance_minor).where(LedgerAccount.kind == kind, LedgerAccount.owner_id == owner_id, LedgerAccount.currency == currency))
    ).scalar_one_or_none()
    return value or 0


async def balances(session: AsyncSession, kinds: Sequence[str], owner_id: int) -> dict[tuple[str, str], int]:
    """{(kind, currency): balance} for one owner's accounts of the given kinds."""
    rows = await session.execute(select(LedgerAccount.kind, LedgerAccount.currency, LedgerAccount.balance_minor).where(LedgerAccount.kind.in_(kinds), LedgerAccount.owner_id == owner_id))
    return {(k, c): b for k, c, b in rows}


async def statement(session: AsyncSession, kind: str, owner_id: int, currency: str, *, limit: int = 100, offset: int = 0) -> list[StatementLine]:
    """An account's entries, newest first, each with the balance right after it."""
    account = (
        await session.execute(select(LedgerAccount).where(LedgerAccount.kind == kind, LedgerAccount.owner_id == owner_id, LedgerAccount.currency == currency))
    ).scalar_one_or_none()
    if account is None:
        return []
    running = func.sum(LedgerEntry.amount_minor).over(order_by=LedgerEntry.id)
    inner = (
        select(LedgerEntry.id.label("entry_id"), LedgerEntry.transaction_id, LedgerEntry.amount_minor, running.label("after"))
        .where(LedgerEntry.account_id == account.id)
        .subquery()
    )
    rows = await session.execute(
        select(inner.c.transaction_id, LedgerTransaction.key, LedgerTransaction.kind, LedgerTransaction.memo, LedgerTransaction.ref, LedgerTransaction.created_at, inner.c.amount_minor, inner.c.after)
        .join(LedgerTransaction, LedgerTransaction.id == inner.c.transaction_id)
        .order_by(inner.c.entry_id.desc())
        .limit(limit)
        .offset(offset)
    )
    # SUM over BIGINT is NUMERIC on PostgreSQL: back to int
    return [StatementLine(tid, key, kind, memo, ref, at, amount, int(after)) for tid, key, kind, memo, ref, at, amount, after in rows]


async def check(session: AsyncSession) -> list[str]:
    """Every problem found: an unbalanced transaction, one with fewer than two entries,
    an entry in another currency than its transaction, or a stored balance that differs
    from the sum of its entries. Empty when the ledger is sound."""
    problems: list[str] = []
    unbalanced = await session.execute(
        select(LedgerTransaction.key, func.coalesce(func.sum(LedgerEntry.amount_minor), 0), func.count(LedgerEntry.id))
        .outerjoin(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .group_by(LedgerTransaction.id, LedgerTransaction.key)
        .having((func.coalesce(func.sum(LedgerEntry.amount_minor), 0) != 0) | (func.count(LedgerEntry.id) < 2))
    )
    problems += [f"transaction {key}: entries sum to {int(total)} over {count} entries" for key, total, count in unbalanced]
    mixed = await session.execute(
        select(LedgerTransaction.key, LedgerAccount.id)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.currency != LedgerTransaction.currency)
    )
    problems += [f"transaction {key}: an entry in account {account} of another currency" for key, account in mixed]
    sums = select(LedgerEntry.account_id, func.sum(LedgerEntry.amount_minor).label("total")).group_by(LedgerEntry.account_id).subquery()
    drift = await session.execute(
        select(LedgerAccount.kind, LedgerAccount.owner_id, LedgerAccount.currency, LedgerAccount.balance_minor, func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.account_id == LedgerAccount.id)
        .where(LedgerAccount.balance_minor != func.coalesce(sums.c.total, 0))
    )
    problems += [f"account {kind}:{owner}:{cur}: balance {bal} but its entries sum to {int(total)}" for kind, owner, cur, bal, total in drift]
    return problems
