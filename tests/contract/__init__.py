"""Contract tests: the plugin API the core promises (hooks, docs, packaging)."""
