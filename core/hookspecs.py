"""Every hook a Zhongcao plugin can implement.

Rules (see docs/plugins.md for examples):
- Call and implement hooks with keyword arguments only.
- Registration hooks are synchronous and run once, while `create_app` builds the app.
- Runtime hooks may be `async def`; the core awaits whatever is awaitable.
- No async hook is `firstresult` (a coroutine is never None).
- Money never depends on plugin order: where order matters the core sorts by an explicit priority.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core import hookspec

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    import click
    from jinja2 import Environment
    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.campaigns.payouts import PayoutProvider
    from core.campaigns.attribution import SaleCandidate, SaleContext
    from core.campaigns.commissions import CommissionContext, CommissionTerms
    from core.campaigns.collaborations import ContentInfo
    from core.campaigns.profiles import CreatorStats
    from core.events import Event
    from core.jobs import Job
    from core.payments.providers import PaymentProvider
    from core.pricing import Adjustment, PricingCart
    from core.runtime import Runtime
    from core.search.base import SearchIndex


# ---------------------------------------------------------------- registration


@hookspec
def register_models() -> Iterable[type]:
    """Return the SQLAlchemy model classes the plugin defines on `core.db.Base`.

    Importing them is enough for SQLAlchemy; returning them lets the core check that
    every plugin table carries the plugin's prefix and that Alembic sees it.
    """


@hookspec
def register_migrations() -> tuple[str, Path] | None:
    """Return `(branch_label, versions_folder)` for the plugin's own Alembic branch.

    The branch must use `branch_labels=(<plugin name>,)` and `depends_on` the core
    revision it needs. `zhongcao db upgrade` upgrades every branch's head.
    """


@hookspec
def register_routes(surface: str) -> Iterable[Any]:
    """Return Litestar route handlers, controllers or routers for one surface.

    `surface` is `"api"`, `"storefront"` or `"creator_portal"`. The core mounts them under
    the plugin's own prefix (`/api/v1/<plugin>`, `/<plugin>`, `/creator/<plugin>`), so a
    plugin can never shadow a core URL.
    """


@hookspec
def register_templates() -> Iterable[Path]:
    """Return template folders. They are searched before the core's, so a plugin can
    override any storefront or portal template by shipping one with the same name."""


@hookspec
def prepare_jinja_env(env: Environment) -> None:
    """Adjust the shared Jinja environment once at start-up: filters, globals, tests."""


@hookspec
def register_translations() -> dict[str, dict[str, str]]:
    """Return `{locale: {message: translation}}` for the plugin's own strings.

    Locales are `"zh-CN"` and `"en"`; templates translate with `{{ _("message") }}`.
    """


@hookspec
def register_jobs() -> Iterable[Job]:
    """Return `core.jobs.Job` definitions; the core turns each into a Dramatiq actor on
    the configured broker (Redis, or the in-process worker). Jobs must be idempotent:
    Dramatiq delivers at least once."""


@hookspec
def register_event_types() -> dict[str, str]:
    """Return `{event_type: description}` for the domain events the plugin records.

    `core.events.record_event` refuses unknown types, so a typo fails loudly.
    """


@hookspec
def register_search_indexes() -> Iterable[SearchIndex]:
    """Return `core.search.base.SearchIndex` declarations for data the plugin owns.

    Each names its searchable, filterable and sortable fields, its sorts and ranking
    tie-breakers, its facets, how to load sources in batches (`load`, `ids`) and which
    domain events refresh which documents (`events`). Names are unique across plugins.
    """


@hookspec
def register_cli_commands(cli: click.Group) -> None:
    """Add click commands to the `zhongcao` command-line tool."""


@hookspec
def register_payment_providers(runtime: Runtime) -> Iterable[PaymentProvider]:
    """Return payment providers (objects following `core.payments.providers.PaymentProvider`).

    The core's defaults contribute `sandbox` (always) and `stripe` (when a Stripe key is
    set). A provider's `name` must be unique; `settings.payment_mode` picks the default.
    """


@hookspec
def register_payout_providers(runtime: Runtime) -> Iterable[PayoutProvider]:
    """Return payout providers (objects following `core.campaigns.payouts.PayoutProvider`):
    how creators are paid. A creator's `payout_method` names one.

    The core's defaults contribute `sandbox` and `bank` (always) and `stripe` (Stripe
    Connect transfers, when a Stripe key is set). Names must be unique. Collected once per
    runtime, the first time payouts need them.
    """


@hookspec
def startup(app: Litestar, runtime: Runtime) -> None:
    """Run when the web app starts (may be async)."""


@hookspec
def shutdown(app: Litestar, runtime: Runtime) -> None:
    """Run when the web app stops (may be async)."""


# ---------------------------------------------------------------- rendering


@hookspec
def page_context(template: str, context: dict[str, Any], runtime: Runtime) -> dict[str, Any] | None:
    """Load what your slots need before a page renders (may be async).

    Called once per rendered page (storefront and creator portal) with the template's
    name (`storefront/product.html`) and the page's context (`actor`, `locale`, `surface`
    and the page's own objects). Return a dict to merge into that context (prefix the
    keys with your plugin's name), or None. `render_slot` then reads it: a slot renders
    while Jinja runs and cannot query the database. Return None quickly for pages you
    do not touch.
    """


@hookspec
def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    """Return an HTML fragment for a named place in a page, or None.

    Slots include `home_main`, `product_aside`, `account_menu`, `creator_dashboard_cards`.
    `context` holds the page's context (`actor`, `locale`, `_`, plus page objects). The
    result is inserted as markup: escape whatever you interpolate. Synchronous.
    """


# ---------------------------------------------------------------- runtime


@hookspec
def handle_event(event: Event, runtime: Runtime) -> None:
    """React to a committed domain event (may be async).

    Runs in a job after the transaction that recorded the event has committed. The
    core keeps a receipt per (event, plugin), so a handler that succeeded is not run
    again; one that failed is retried with the same event. It must therefore be
    idempotent up to its own commit.
    """


@hookspec
def price_adjustments(cart: PricingCart, runtime: Runtime) -> Iterable[Adjustment]:
    """Propose price changes for a cart being priced (may be async).

    Return `core.pricing.Adjustment` items: discounts only (negative amounts), aimed at
    one variant's line, at one brand's lines or at the whole cart. The core applies them
    in (priority, code, plugin) order, never below zero, whatever order plugins load in.
    Called for every quote and again at checkout; a disabled plugin's adjustments simply
    stop applying. Client-sent prices never reach this hook.
    """


@hookspec
def validate_checkout(cart: PricingCart, runtime: Runtime) -> Iterable[str]:
    """Return problems that forbid this checkout (may be async); empty means fine.

    Runs after pricing and before anything is written or any stock is held; any
    problem stops the checkout with a 422 listing them all.
    """


@hookspec
def creator_stats(user_id: int, runtime: Runtime) -> CreatorStats | None:
    """Return a creator's audience figures computed from their content, or None (may be async).

    `core.campaigns.profiles.CreatorStats(followers, avg_engagement, engagement_rate_ppm)`.
    The first plugin in load order that answers wins, and the profile shows its name as
    the source; while any plugin answers, the creator cannot type the figures in. With
    no plugin answering, figures are self-reported and labelled so to brands.
    """


@hookspec
def resolve_content(kind: str, ref: str, runtime: Runtime) -> ContentInfo | None:
    """Tell the core about a piece of content a creator submitted for a campaign (may be async).

    `kind` is "note" (`ref` is a note id) or "url" (`ref` is the address). Return
    `core.campaigns.collaborations.ContentInfo(url, author_user_id, title, sponsored_label,
    published, published_at, engagement)` for content you know, else None. The first
    plugin in load order that answers wins. A note must resolve to a note by the
    submitting creator, and carry the sponsored label to be approved.
    """


@hookspec
def seed_demo(session: AsyncSession, runtime: Runtime) -> None:
    """Add the plugin's demo data (may be async). Must be idempotent: `zhongcao demo`
    runs it on every start. The core's demo users and brands exist already."""


@hookspec
def attribute_sale(order: SaleContext, runtime: Runtime) -> Iterable[SaleCandidate]:
    """Propose creators who brought a paid order (may be async).

    `order` is a `core.campaigns.attribution.SaleContext` (the order, its lines, the
    buyer, the codes and visitor id of its checkout). Return
    `core.campaigns.attribution.SaleCandidate` items (a purchase from a note, a group-buy
    leader, a live host). The core adds its own candidates (codes, priority 100; tracked
    link clicks, priority 10), keeps those of eligible collaborations within the
    campaign's attribution window, and gives each line to the highest priority (plugin
    priorities are capped at 99, below codes), ties by the campaign's first or last touch.
    """


@hookspec
def search_document(index: str, obj: Any, runtime: Runtime) -> dict[str, Any] | None:
    """Build the document of `obj` (a source its index's `load` gave) for index `index`. SYNCHRONOUS.

    Return a dict of fields, or None for an index you do not know. Every answer is merged
    in load order, so the index's owner builds the document (with its `version`) and
    other plugins may add fields. Only declared fields can be searched, filtered or sorted.
    """


@hookspec(firstresult=True)
def commission_policy(context: CommissionContext) -> CommissionTerms | None:
    """Decide the commission terms of one attributed order line. SYNCHRONOUS, firstresult.

    `context` is a `core.campaigns.commissions.CommissionContext`, including `terms`: the
    campaign's terms in force at payment (new-buyer terms applied). Return
    `core.campaigns.commissions.CommissionTerms(kind, rate_ppm, flat_minor)` to set
    them, or None to let the next implementation decide; the core's own
    implementation runs last and returns `context.terms`. A None from every
    implementation means no commission for the line.
    """
