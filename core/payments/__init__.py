"""Payments behind a provider interface: `sandbox` (embedded default) and `stripe`."""
