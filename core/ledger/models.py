"""Accounts, transactions and their entries. Amounts are signed integer minor units:
a debit is positive, a credit negative, and each transaction's entries sum to zero."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, IdMixin, utcnow


class AccountKind:
    BRAND_PAYABLE = "brand_payable"  # what a brand owes for commissions and fees (the platform's asset)
    CREATOR_PENDING = "creator_pending"  # commissions earned but still in their holding period
    CREATOR_AVAILABLE = "creator_available"  # approved and payable; a clawback after a payout shows as a debit here
    PLATFORM_FEE = "platform_fee"  # the platform's share withheld from payouts
    PAYOUTS = "payouts"  # money sent out to creators

    ALL = (BRAND_PAYABLE, CREATOR_PENDING, CREATOR_AVAILABLE, PLATFORM_FEE, PAYOUTS)
    PLATFORM = (PLATFORM_FEE, PAYOUTS)  # owner_id 0


class LedgerAccount(IdMixin, Base):
    """One balance per kind, owner and currency. `balance_minor` is kept in step with the
    entries in the same transaction; `zhongcao ledger check` proves it."""

    __tablename__ = "ledger_account"
    __table_args__ = (UniqueConstraint("kind", "owner_id", "currency"),)

    kind: Mapped[str] = mapped_column(String(24))
    owner_id: Mapped[int] = mapped_column(BigInteger, default=0)  # brand id, user id, or 0 for the platform
    currency: Mapped[str] = mapped_column(String(3))
    balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerTransaction(IdMixin, Base):
    """A balanced set of entries. `key` makes posting idempotent: a retried job, a
    duplicated event or a second payout run posts nothing the second time."""

    __tablename__ = "ledger_transaction"

    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    memo: Mapped[str | None] = mapped_column(Text)
    ref: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class LedgerEntry(IdMixin, Base):
    __tablename__ = "ledger_entry"
    __table_args__ = (CheckConstraint("amount_minor <> 0", name="nonzero"), Index("ix_ledger_entry_account_txn", "account_id", "transaction_id"))

    transaction_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("ledger_transaction.id", ondelete="RESTRICT"), index=True)
    account_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("ledger_account.id", ondelete="RESTRICT"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
