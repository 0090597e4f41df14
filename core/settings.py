"""Configuration from ZHONGCAO_* environment variables.

Every default belongs to the embedded mode: one process, no servers.
Production switches each part on with one variable (see README.md).
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHONGCAO_", extra="ignore", frozen=False)

    var_dir: Path = Field(default=Path("var"), description="Folder for the SQLite file, media and the secret key.")
    database_url: str | None = Field(default=None, description="SQLAlchemy async URL; default: SQLite file under var_dir.")
    redis_url: str | None = Field(default=None, description="Redis: Dramatiq broker, channels, shared stores.")
    meili_url: str | None = Field(default=None, description="Meilisearch server (e.g. http://127.0.0.1:7700): search goes there instead of the database.")
    meili_key: str | None = Field(default=None, description="Meilisearch API key (the master or an admin key).")
    search_currency: str = Field(default="CNY", min_length=3, max_length=3, description="The currency of product prices in search (price filter, sorts).")
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    stripe_publishable_key: str | None = Field(default=None, description="Stripe's publishable key (pk_...), for Stripe.js on the payment page.")
    stripe_js_url: str = Field(default="https://js.stripe.com/v3/", description="Where the payment page loads Stripe.js from (a fake such as localstripe serves its own).")
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
    guest_page_seconds: float = Field(
        default=2.0, ge=0, le=300,
        description="Storefront pages a guest (no session, no cart) sees are kept this long per process and served again without their queries (0: off).",
    )
    tick_seconds: float = Field(default=30.0, description="How often periodic jobs (checkout expiry) are enqueued.")
    authorization_hold_hours: int = Field(
        default=144, ge=1, le=168,
        description="How long an authorized, not yet captured payment keeps its checkout and stock held (card authorizations lapse after 7 days at Stripe).",
    )
    creator_tiers: str = Field(
        default="koc:0,micro:10000,mid:100000,macro:500000,head:1000000",
        description="Creator tiers by follower count: name:lowest follower count, comma-separated.",
    )
    payout_minimum_major: int = Field(
        default=100, ge=0, le=10**9,
        description="Creators are paid once their payable balance reaches this many major units of the currency (100 = ¥100.00, or ¥100 in JPY).",
    )
    platform_fee_ppm: int = Field(
        default=100_000, ge=0, lt=1_000_000,
        description="The platform's service fee withheld from each creator payout, in parts per million (100000 = 10%).",
    )
    commission_hold_days: int | None = Field(
        default=None, ge=0, le=365,
        description="Overrides every campaign's commission holding period (days after delivery before a commission is approved); 0 in a demo or test approves at once.",
    )
    public_url: str = "http://127.0.0.1:8000"
    queue_namespace: str = Field(default="zhongcao", description="Prefix for Dramatiq queues and Redis keys.")

    @field_validator("creator_tiers")
    @classmethod
    def _creator_tiers(cls, value: str) -> str:
        floors: dict[str, int] = {}
        for part in value.split(","):
            name, sep, floor = part.strip().partition(":")
            if not sep or not name.strip() or not floor.strip().isdigit() or name.strip() in floors:
                raise ValueError("creator_tiers: comma-separated name:followers pairs such as koc:0,micro:10000 (names unique)")
            floors[name.strip()] = int(floor)
        if 0 not in floors.values() or len(set(floors.values())) != len(floors):
            raise ValueError("creator_tiers: one tier starts at 0 followers, and no two start at the same count")
        return value

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
