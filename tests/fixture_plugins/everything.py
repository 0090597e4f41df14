"""`everything`: a throwaway plugin that implements every hook in core/hookspecs.py.

Registered by the contract tests through the `zc_extra_plugins` fixture, never through
an entry point. Each hook leaves an observable trace:

- registration hooks return real contributions (routes, templates, a Jinja filter and
  global, translations, jobs, an event type, a CLI command, a migration branch);
- runtime hooks write into the module-level `CALLS` recorder, keyed so that tests stay
  independent of each other (by token, event id or runtime);
- the commerce hooks act only on variants whose SKU carries one of this plugin's
  markers (`DISCOUNT_SKU`, `BLOCK_SKU`), so every other test's cart is untouched, and
  contribute an extra payment provider and an extra payout provider named `everything`.

`register_models` returns an *abstract* model: it carries a `__tablename__` (so the
core's prefix rule applies to it) but adds no table to `core.db.Base.metadata`, so no
migration is needed and `zhongcao db check` elsewhere in the test session sees no drift.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from litestar import MediaType, Request, get
from markupsafe import Markup, escape
from sqlalchemy import select

from core import hookimpl
from core.db import Base
from core.jobs import Job
from core.campaigns.payouts import SandboxPayoutProvider
from core.payments.providers import SandboxProvider
from core.pricing import Adjustment
from core.web import render

if TYPE_CHECKING:
    from jinja2 import Environment
    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.events import Event
    from core.pricing import PricingCart
    from core.runtime import Runtime

__version__ = "0.0.1-test"
NAME = "everything"
ASSETS = Path(__file__).resolve().parent / "everything_assets"
TEMPLATES = ASSETS / "templates"
MIGRATIONS = ASSETS / "migrations" / "versions"
EVENT_TYPE = "everything.poked"
SEED_BRAND = "everything-demo"
HELLO = "Everything says hello"
HELLO_ZH = "万物问好"
# SKU markers for the commerce hooks (a test renames a variant's SKU to opt in)
DISCOUNT_SKU = "EVERYTHING-10OFF"  # 10% off the line, coupon code below
DISCOUNT_CODE = "everything-10off"
BLOCK_SKU = "EVERYTHING-BLOCK"  # validate_checkout refuses a cart holding it
PROVIDER = "everything"


class Recorder:
    """Thread-safe traces of hook calls (jobs and event handlers run in worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.jobs: dict[str, tuple[str, Any]] = {}
        self.events: dict[str, tuple[Event, Any]] = {}
        self.lifecycle: list[tuple[str, Any, Any]] = []
        self.seeds: list[tuple[Any, bool]] = []
        self.jinja_envs: list[Any] = []
        self.priced: list[tuple[Any, Any]] = []  # (cart, runtime) per price_adjustments call
        self.validated: list[tuple[Any, Any]] = []

    def job(self, token: str, kind: str, runtime: Any) -> None:
        with self._lock:
            self.jobs[token] = (kind, runtime)

    def event(self, event: Event, runtime: Any) -> None:
        with self._lock:
            self.events[event.id] = (event, runtime)

    def lifecycle_of(self, runtime: Any) -> list[tuple[str, Any]]:
        with self._lock:
            return [(hook, app) for hook, app, rt in self.lifecycle if rt is runtime]


CALLS = Recorder()
# How often handle_event ran per event id: proves receipts stop a second run.
HANDLED: dict[str, int] = defaultdict(int)


# ---------------------------------------------------------------- models


class EverythingMark(Base):
    """Abstract on purpose: the prefix rule sees `__tablename__`, the metadata sees nothing."""

    __abstract__ = True
    __tablename__ = "everything_mark"


@hookimpl
def register_models() -> list[type]:
    return [EverythingMark]


@hookimpl
def register_migrations() -> tuple[str, Path]:
    return (NAME, MIGRATIONS)


# ---------------------------------------------------------------- routes


@get("/ping", sync_to_thread=False)
def api_ping() -> dict[str, str]:
    return {"plugin": NAME, "pong": "ok"}


@get("/me", sync_to_thread=False)
def api_me() -> dict[str, str]:
    """Same path as the core's `/api/v1/me`: mounted under the prefix, it cannot shadow it."""
    return {"who": NAME}


@get("/hello")
async def storefront_hello(request: Request, who: str = "world") -> Any:
    return await render(request, "everything/hello.html", {"who": who})


@get("/hello", media_type=MediaType.TEXT, sync_to_thread=False)
def portal_hello() -> str:
    return "everything in the creator portal"


@hookimpl
def register_routes(surface: str) -> list[Any]:
    return {
        "api": [api_ping, api_me],
        "storefront": [storefront_hello],
        "creator_portal": [portal_hello],
    }.get(surface, [])


# ---------------------------------------------------------------- templates and text


@hookimpl
def register_templates() -> list[Path]:
    return [TEMPLATES]


def shout(value: object) -> str:
    return f"{str(value).upper()}!"


@hookimpl
def prepare_jinja_env(env: Environment) -> None:
    env.filters["everything_shout"] = shout
    env.globals["everything_version"] = __version__
    CALLS.jinja_envs.append(env)


@hookimpl
def register_translations() -> dict[str, dict[str, str]]:
    return {"zh-CN": {HELLO: HELLO_ZH}, "en": {HELLO: HELLO}}


@hookimpl
async def page_context(template: str, context: dict[str, Any], runtime: Any) -> dict[str, Any] | None:
    if template != "storefront/home.html":
        return None
    from sqlalchemy import func, select

    from core.catalog.models import Brand

    async with runtime.db.read_session() as session:  # what a slot cannot do while Jinja renders
        brands = (await session.execute(select(func.count()).select_from(Brand))).scalar_one()
    return {"everything_brand_count": brands, "everything_saw_actor": "actor" in context}


@hookimpl
def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    if slot != "home_main":
        return None
    translate = context["_"]
    names = ", ".join(str(escape(brand.name)) for brand in context.get("brands") or [])
    return Markup('<section data-testid="everything-slot">{} · <span class="names">{}</span> <span data-testid="everything-count">{}</span></section>').format(
        translate(HELLO), Markup(names), context.get("everything_brand_count", "none")
    )


# ---------------------------------------------------------------- jobs and events


def record_job(runtime: Runtime, token: str) -> None:
    CALLS.job(token, "sync", runtime)


async def record_job_async(runtime: Runtime, token: str) -> None:
    await asyncio.sleep(0)
    CALLS.job(token, "async", runtime)


@hookimpl
def register_jobs() -> list[Job]:
    return [
        Job(name="everything.record", fn=record_job, max_retries=0),
        Job(name="everything.record_async", fn=record_job_async, max_retries=0),
    ]


@hookimpl
def register_event_types() -> dict[str, str]:
    return {EVENT_TYPE: "The everything test plugin was poked."}


@hookimpl
async def handle_event(event: Event, runtime: Runtime) -> None:
    await asyncio.sleep(0)
    HANDLED[event.id] += 1
    CALLS.event(event, runtime)


# ---------------------------------------------------------------- command line


@click.command("everything-hello")
@click.option("--name", default="world")
def everything_hello(name: str) -> None:
    """Say hello from the everything test plugin."""
    click.echo(f"everything says hello to {name}")


@hookimpl
def register_cli_commands(cli: click.Group) -> None:
    cli.add_command(everything_hello)


# ---------------------------------------------------------------- lifecycle


@hookimpl
async def startup(app: Litestar, runtime: Runtime) -> None:
    await asyncio.sleep(0)  # only recorded if the core awaits the coroutine
    with CALLS._lock:
        CALLS.lifecycle.append(("startup", app, runtime))


@hookimpl
def shutdown(app: Litestar, runtime: Runtime) -> None:
    with CALLS._lock:
        CALLS.lifecycle.append(("shutdown", app, runtime))


# ---------------------------------------------------------------- demo data


@hookimpl
async def seed_demo(session: AsyncSession, runtime: Runtime) -> None:
    from core.auth.models import User
    from core.catalog.models import Brand
    from core.defaults.demo import DEMO_USERS

    core_users = set((await session.execute(select(User.email))).scalars())
    CALLS.seeds.append((runtime, all(email in core_users for email, _, _ in DEMO_USERS)))
    if (await session.execute(select(Brand).where(Brand.slug == SEED_BRAND))).scalar_one_or_none() is None:
        session.add(Brand(slug=SEED_BRAND, name="Everything Demo", description="seeded by the everything plugin"))
        await session.flush()


# ---------------------------------------------------------------- commerce


@hookimpl
def price_adjustments(cart: PricingCart, runtime: Runtime) -> list[Adjustment]:
    """10% off (rounded down) every line whose SKU starts with `DISCOUNT_SKU`."""
    with CALLS._lock:
        CALLS.priced.append((cart, runtime))
    return [
        Adjustment(code=DISCOUNT_CODE, label="Everything 10% off", amount_minor=-(line.quantity * line.unit_price_minor // 10), variant_id=line.variant_id, priority=50)
        for line in cart.lines
        if line.sku.startswith(DISCOUNT_SKU)
    ]


@hookimpl
async def validate_checkout(cart: PricingCart, runtime: Runtime) -> list[str]:
    await asyncio.sleep(0)  # only counts if the core awaits the coroutine
    with CALLS._lock:
        CALLS.validated.append((cart, runtime))
    return [f"{line.sku} cannot be bought while the everything plugin is on" for line in cart.lines if line.sku.startswith(BLOCK_SKU)]


class EverythingPay(SandboxProvider):
    """The sandbox's behaviour under another name: test cards succeed or decline."""

    name = PROVIDER
    label = "Everything Pay (test mode)"


@hookimpl
def register_payment_providers(runtime: Runtime) -> list[Any]:
    return [EverythingPay()]  # one per runtime: its ledger belongs to that runtime


class EverythingPayouts(SandboxPayoutProvider):
    """The sandbox payout provider's behaviour under another name: transfers kept in memory."""

    name = PROVIDER
    label = "Everything Payouts (test mode)"


@hookimpl
def register_payout_providers(runtime: Runtime) -> list[Any]:
    return [EverythingPayouts()]  # one per runtime, like the payment provider


# audience figures for users listed here (tests add and remove them); everyone else: None
STATS_FOR: dict[int, tuple[int, int]] = {}  # user id -> (followers, avg_engagement)


@hookimpl
async def creator_stats(user_id: int, runtime: Runtime) -> Any:
    from core.campaigns.profiles import CreatorStats, engagement_rate_ppm

    if user_id not in STATS_FOR:
        return None
    followers, engagement = STATS_FOR[user_id]
    return CreatorStats(followers=followers, avg_engagement=engagement, engagement_rate_ppm=engagement_rate_ppm(engagement, followers))


# content for campaigns: notes listed here (tests add and remove them), keyed by note id
NOTES: dict[str, Any] = {}  # note id -> core.campaigns.collaborations.ContentInfo


@hookimpl
async def resolve_content(kind: str, ref: str, runtime: Runtime) -> Any:
    await asyncio.sleep(0)  # only counts if the core awaits the coroutine
    return NOTES.get(ref) if kind == "note" else None


# attribution: per variant id, the creator this plugin says brought the sale (tests add
# and remove entries) as (creator user id, priority, touched how long ago); and what it saw
ATTRIBUTE_FOR: dict[int, tuple[int, int, Any]] = {}
SALES_SEEN: dict[int, Any] = {}  # order id -> the SaleContext received
BROKEN_ATTRIBUTION: set[int] = set()  # variant ids for which it answers garbage


@hookimpl
async def attribute_sale(order: Any, runtime: Runtime) -> list[Any]:
    from core.campaigns.attribution import SaleCandidate

    await asyncio.sleep(0)  # only counts if the core awaits the coroutine
    with CALLS._lock:
        SALES_SEEN[order.order_id] = order
    out: list[Any] = []
    for line in order.lines:
        if line.variant_id in BROKEN_ATTRIBUTION:
            out.append({"creator_user_id": 1})
        elif line.variant_id in ATTRIBUTE_FOR:
            creator, priority, ago = ATTRIBUTE_FOR[line.variant_id]
            out.append(SaleCandidate(creator_user_id=creator, source="everything", touched_at=order.paid_at - ago, variant_ids=(line.variant_id,), ref=f"note-{line.variant_id}", priority=priority))
    return out


# commission terms: per variant id, the terms this plugin decides; everything else: None
POLICY_FOR: dict[int, Any] = {}
POLICY_SEEN: dict[int, Any] = {}  # order line id -> the CommissionContext received


@hookimpl
def commission_policy(context: Any) -> Any:
    with CALLS._lock:
        POLICY_SEEN[context.order_line_id] = context
    return POLICY_FOR.get(context.variant_id)


# search: an index of this plugin's own ("everything_tips"), from a dict the tests fill,
# and a field it adds to every product document
TIPS: dict[str, tuple[str, int]] = {}  # id -> (text, version)


@hookimpl
def register_search_indexes() -> list[Any]:
    from core.search.base import SearchIndex, Sort

    async def load(session: Any, runtime: Any, ids: list[str]) -> dict[str, Any]:
        return {i: (i, *TIPS[i]) for i in ids if i in TIPS}

    async def ids(session: Any, runtime: Any, after: str | None, limit: int) -> list[str]:
        return sorted(i for i in TIPS if after is None or i > after)[:limit]

    return [SearchIndex(
        name="everything_tips", searchable=("text",), filterable={"length": "int"}, sortable=("length",),
        sorts={"shortest": Sort("length", descending=False)}, load=load, ids=ids, suggest="text",
        events={EVENT_TYPE: lambda payload: payload.get("tip_ids", ())},
    )]


@hookimpl
def search_document(index: str, obj: Any, runtime: Runtime) -> dict[str, Any] | None:
    if index == "everything_tips":
        tip_id, text, version = obj
        return {"version": version, "text": text, "length": len(text)}
    if index == "products":
        return {"everything": f"seen {obj.slug}"}
    return None
