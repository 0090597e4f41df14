from pathlib import Path

from core.settings import Settings


def test_defaults_are_the_embedded_mode(monkeypatch, tmp_path):
    for key in list(__import__("os").environ):
        if key.startswith("ZHONGCAO_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.resolved_database_url == f"sqlite+aiosqlite:///{(tmp_path / 'var' / 'zhongcao.db').resolve()}"
    assert s.is_sqlite and s.run_inprocess_worker and s.payment_mode == "sandbox"
    assert s.redis_url is None and s.meili_url is None
    assert s.disabled_plugins == ()


def test_environment_switches_production_parts(monkeypatch):
    monkeypatch.setenv("ZHONGCAO_DATABASE_URL", "postgresql+asyncpg://u@db/zc")
    monkeypatch.setenv("ZHONGCAO_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("ZHONGCAO_STRIPE_SECRET_KEY", "sk_test_x")
    monkeypatch.setenv("ZHONGCAO_PLUGINS_DISABLED", "live, feed")
    s = Settings()
    assert not s.is_sqlite
    assert not s.run_inprocess_worker
    assert s.payment_mode == "stripe"
    assert s.disabled_plugins == ("live", "feed")


def test_generated_secret_survives_restarts(tmp_path: Path):
    first = Settings(var_dir=tmp_path).signing_key
    assert len(first) > 40
    assert Settings(var_dir=tmp_path).signing_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_stripe_js_settings(monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("ZHONGCAO_"):
            monkeypatch.delenv(key)
    s = Settings()
    assert s.stripe_publishable_key is None and s.stripe_js_url == "https://js.stripe.com/v3/"
    monkeypatch.setenv("ZHONGCAO_STRIPE_PUBLISHABLE_KEY", "pk_test_x")
    monkeypatch.setenv("ZHONGCAO_STRIPE_JS_URL", "http://127.0.0.1:8420/js.stripe.com/v3/")
    s = Settings()
    assert s.stripe_publishable_key == "pk_test_x" and s.stripe_js_url == "http://127.0.0.1:8420/js.stripe.com/v3/"
