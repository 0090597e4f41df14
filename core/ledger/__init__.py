"""The double-entry ledger behind commissions, fixed fees and payouts."""
