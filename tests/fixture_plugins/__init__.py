"""Throwaway plugins used by the contract tests (never installed as entry points)."""
