"""Configuration from ZHONGCAO_* environment variables.

Every default belongs to the embedded mode: one process, no servers.
Production switches each part on with one variable (see README.md).
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHONGCAO_", extra="ignore", frozen=False)

    var_dir: Path = Field(default=Path("var"), description="Folder for the SQLite file, media and the secret key.")
    database_url: str | None = Field(default=None, description="SQLAlchemy async URL; default: SQLite file under var_dir.")
    redis_url: str | None = Field(default=None, description="Redis: Dramatiq broker, channels, shared stores.")
    meili_url: str | None = None
    meili_key: str | None = None
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    secret_key: str | None = Field(default=None, description="Signs sessions and tokens; default: generated once into var_dir.")
    plugins_disabled: str = Field(default="", description="Comma-separated plugin names not to load.")
    trace_plugins: bool = False
    inprocess_worker: bool | None = Field(default=None, description="Run Dramatiq actors inside the web process; default: on without Redis.")
    debug: bool = False
    default_locale: str = "zh-CN"
    max_body_bytes: int = 1_048_576
    login_attempts: int = 5
    login_window_seconds: int = 900
    token_ttl_seconds: int = 86_400
    relay_poll_seconds: float = 2.0
    tick_seconds: float = Field(default=30.0, description="How often periodic jobs (checkout expiry) are enqueued.")
    public_url: str = "http://127.0.0.1:8000"
    queue_namespace: str = Field(default="zhongcao", description="Prefix for Dramatiq queues and Redis keys.")

    @property
    def disabled_plugins(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.plugins_disabled.split(",") if p.strip())

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'zhongcao.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def run_inprocess_worker(self) -> bool:
        return self.inprocess_worker if self.inprocess_worker is not None else self.redis_url is None

    @property
    def payment_mode(self) -> str:
        """`stripe` once a Stripe key is set; otherwise the labelled `sandbox`."""
        return "stripe" if self.stripe_secret_key else "sandbox"

    @property
    def media_dir(self) -> Path:
        return self.var_dir / "media"

    @cached_property
    def signing_key(self) -> str:
        """The configured secret, or one generated once and kept in var_dir so restarts keep sessions."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key
