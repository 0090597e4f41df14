"""Fixtures come from core.testing (the pytest11 plugin every Zhongcao plugin can use)."""
