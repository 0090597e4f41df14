"""`zhongcao`: plugins, db, worker, demo, serve. Plugins add commands by hook."""

from __future__ import annotations

import asyncio
import sys

import click

from core.plugin_manager import PluginError


def _runtime():  # noqa: ANN202
    from core.runtime import create_runtime

    try:
        return create_runtime()
    except PluginError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def cli() -> None:
    """Zhongcao (种草): creator-led commerce engine."""


@cli.command("plugins")
def plugins_cmd() -> None:
    """List loaded plugins with their version and the hooks they implement."""
    runtime = _runtime()
    for info in runtime.pm.plugins_info():
        click.echo(f"{info.name:<16} {info.version:<10} {info.kind:<8} {info.module}")
        click.echo(f"{'':<16} hooks: {', '.join(info.hooks) or '-'}")


@cli.group("db")
def db() -> None:
    """Database migrations (Alembic, one branch per plugin)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Upgrade every branch to its head. Running it twice is a no-op."""
    from core import migrate

    runtime = _runtime()
    asyncio.run(_with_dispose(runtime, migrate.upgrade(runtime)))
    click.echo("database is at heads")


@db.command("check")
def db_check() -> None:
    """Report drift between the models and the migrated database (exit 1 on drift)."""
    from core import migrate

    runtime = _runtime()
    drift = asyncio.run(_with_dispose(runtime, migrate.check(runtime)))
    if drift:
        click.echo(f"drift: {drift}", err=True)
        sys.exit(1)
    click.echo("no drift: models match the migrations")


@db.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--branch", default="core", show_default=True, help="core or a plugin's branch label")
@click.option("--empty", is_flag=True, help="no autogenerate")
def db_revision(message: str, branch: str, empty: bool) -> None:
    """Autogenerate a revision on one branch."""
    from core import migrate

    migrate.revision(_runtime(), message, branch, autogenerate=not empty)


@db.command("heads")
def db_heads() -> None:
    """Show each branch's head revision."""
    from core import migrate

    for label, heads in sorted(migrate.branch_heads(_runtime()).items()):
        click.echo(f"{label}: {', '.join(heads)}")


@cli.group("ledger")
def ledger() -> None:
    """The double-entry ledger of commissions, fees and payouts."""


@ledger.command("check")
def ledger_check() -> None:
    """Verify that every transaction balances, every balance equals the sum of its
    entries, and every campaign's spend equals its commissions and fees posted (exit 1
    and list the problems otherwise)."""
    from core.campaigns import budget
    from core.ledger.service import check

    runtime = _runtime()

    async def run() -> list[str]:
        async with runtime.db.read_session() as session:
            problems = await check(session)
            for m in await budget.check(session):
                problems.append(f"campaign {m.campaign_id}: spent_minor is {m.recorded_minor}, its commissions and fees posted make {m.computed_minor}")
            return problems

    problems = asyncio.run(_with_dispose(runtime, run()))
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(1)
    click.echo("ledger ok: every transaction balances, every balance equals its entries, every campaign's spend its postings")


@cli.group("payouts")
def payouts() -> None:
    """Creator payout runs (see docs/payouts.md)."""


@payouts.command("run")
@click.option("--currency", required=True, help="ISO 4217 code, e.g. CNY")
@click.option("--key", default=None, help="idempotency key; default <currency>-<yyyy-mm> (one run a month)")
def payouts_run(currency: str, key: str | None) -> None:
    """Pay every creator owed at least the minimum, less the platform fee. Running it
    again with the same key pays nothing twice; it finishes what the first left pending."""
    from core.campaigns.payouts import run_payouts
    from core.errors import DomainError
    from core.money import Money

    runtime = _runtime()
    try:
        result = asyncio.run(_with_dispose(runtime, run_payouts(runtime, currency=currency.upper(), key=key)))
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    run = result.run
    click.echo(f"payout run {run.key} ({run.currency}, {run.status}){'' if result.created else ': already run, nothing new paid'}")
    for p in result.payouts:
        who = result.handles.get(p.creator_user_id, f"user {p.creator_user_id}")
        line = f"  #{p.id} @{who} via {p.provider}: {p.status} gross {Money(p.gross_minor, p.currency)} fee {Money(p.fee_minor, p.currency)} net {Money(p.net_minor, p.currency)}"
        click.echo(line + (f" ({p.error})" if p.error else ""))
    for s in run.skipped or []:
        click.echo(f"  skipped @{s.get('handle') or s['creator_user_id']}: {s['reason']} ({Money(s['balance_minor'], run.currency)})")
    paid = [p for p in result.payouts if p.status == "paid"]
    click.echo(f"{len(paid)} paid, {Money(sum(p.net_minor for p in paid), run.currency)} sent")


@cli.group("search")
def search() -> None:
    """Search indexes (see docs/search.md)."""


@search.command("reindex")
@click.argument("index", required=False)
def search_reindex(index: str | None) -> None:
    """Rebuild an index (or every index) into a new physical index, then swap: searches
    keep working on the old one meanwhile, and live changes reach both."""
    import time

    from core.search.service import UnknownIndex

    runtime = _runtime()
    service = runtime.search
    names = [index] if index else list(service.indexes)

    async def run() -> None:
        for name in names:
            started = time.perf_counter()
            try:
                status = await service.rebuild(name)
            except UnknownIndex:
                raise click.ClickException(f"no search index {name!r} (indexes: {', '.join(sorted(service.indexes))})") from None
            took = time.perf_counter() - started
            click.echo(f"{name}: {status.documents:,} documents in {status.physical} ({status.backend}) in {took:.1f} s")
        await service.close()

    asyncio.run(_with_dispose(runtime, run()))


@search.command("status")
def search_status() -> None:
    """Each index: its backend, the physical index that answers, documents, queued changes."""
    runtime = _runtime()
    service = runtime.search

    async def run() -> None:
        for st in await service.status():
            built = st.built_at.isoformat(timespec="seconds") if st.built_at else "never rebuilt"
            click.echo(f"{st.name} ({st.owner}): {st.backend} {st.physical or '-'}, {st.documents:,} documents, {st.queued:,} queued, {built}"
                       + (f", building {st.building}" if st.building else ""))
        await service.close()

    asyncio.run(_with_dispose(runtime, run()))


@search.command("drain")
def search_drain() -> None:
    """Index every queued change now (the search.drain job does it in the background)."""
    runtime = _runtime()
    service = runtime.search

    async def run() -> int:
        total = 0
        while handled := await service.drain():
            total += handled
        await service.close()
        return total

    click.echo(f"{asyncio.run(_with_dispose(runtime, run())):,} documents indexed")


async def _with_dispose(runtime, coro):  # noqa: ANN001, ANN202
    try:
        return await coro
    finally:
        await runtime.dispose_loop_databases()


@cli.command("worker")
@click.option("--threads", default=4, show_default=True)
@click.option("--queues", default="", help="comma-separated queue names (default: all)")
def worker(threads: int, queues: str) -> None:
    """Run Dramatiq workers (and the outbox relay) for this runtime's broker."""
    runtime = _runtime()
    if not runtime.settings.redis_url:
        click.echo("note: no ZHONGCAO_REDIS_URL; the web process already runs jobs in-process", err=True)

    async def main() -> None:
        await runtime.start(worker=False, relay=True)
        runtime.jobs.start_worker(threads=threads, queues=set(filter(None, queues.split(","))) or None)
        click.echo(f"worker running ({type(runtime.jobs.broker).__name__}, {threads} threads); Ctrl-C stops")
        try:
            await asyncio.Event().wait()
        finally:
            await runtime.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


async def seed(runtime) -> None:  # noqa: ANN001
    """Migrate, then run every `seed_demo` hook in one transaction."""
    import inspect

    from core import migrate

    from sqlalchemy.exc import DBAPIError

    await migrate.upgrade(runtime)
    for attempt in range(3):
        try:
            async with runtime.db.session() as session:
                results = runtime.pm.hook.seed_demo(session=session, runtime=runtime)
                try:
                    for result in results:
                        if inspect.isawaitable(result):
                            await result
                finally:  # a deadlock part-way: the hooks not reached yet are retried, not left unawaited
                    for result in results:
                        if inspect.iscoroutine(result):
                            result.close()
                await session.commit()
            break
        except DBAPIError as exc:
            # the seed's own checkouts start background jobs (commission holding, approval)
            # that touch the rows its payout run then updates: on PostgreSQL the two can
            # deadlock. Seeding is idempotent, so once more picks up where it stopped.
            if getattr(exc.orig, "sqlstate", None) not in ("40P01", "40001") or attempt == 2:
                raise
            await asyncio.sleep(0.5)
    service = runtime.search
    for name in service.indexes:  # the demo's data searchable at once
        await service.rebuild(name)


@cli.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--seed-only", is_flag=True, help="migrate and seed, then exit")
def demo(host: str, port: int, seed_only: bool) -> None:
    """Migrate, seed demo data, and serve the storefront and creator portal."""
    from core.defaults.demo import DEMO_PASSWORD, demo_accounts

    async def seed_and_list() -> list[str]:
        await seed(runtime)
        return await demo_accounts(runtime)

    runtime = _runtime()
    accounts = asyncio.run(_with_dispose(runtime, seed_and_list()))
    if seed_only:
        click.echo("demo data ready")
        return

    base = f"http://{host}:{port}"
    click.echo(f"\n  Zhongcao demo (embedded mode: SQLite, in-process jobs, {runtime.settings.payment_mode} payments)\n")
    click.echo(f"  storefront      {base}/")
    click.echo(f"  creator portal  {base}/creator")
    click.echo(f"  API docs        {base}/schema")
    click.echo(f"  accounts        {', '.join(accounts)}  password: {DEMO_PASSWORD}\n")
    _serve(runtime, host, port)


def _serve(runtime, host: str, port: int) -> None:  # noqa: ANN001
    import uvicorn

    from core.app import create_app

    if "public_url" not in runtime.settings.model_fields_set:  # links the app builds (shares, emails) point here
        runtime.settings.public_url = f"http://{host}:{port}"

    uvicorn.run(create_app(runtime=runtime), host=host, port=port, log_level="warning", access_log=False)


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help=">1 needs PostgreSQL and Redis")
def serve(host: str, port: int, workers: int) -> None:
    """Serve with granian (use several workers only in production mode)."""
    import os

    os.execvp(
        "granian",
        ["granian", "--interface", "asgi", "--host", host, "--port", str(port), "--workers", str(workers), "core.asgi:app"],
    )


def main() -> None:
    try:
        from core.plugin_manager import build_plugin_manager
        from core.settings import Settings

        settings = Settings()
        pm = build_plugin_manager(disabled=settings.disabled_plugins)
        pm.hook.register_cli_commands(cli=cli)
    except PluginError as exc:
        # still let `zhongcao --help` and friends run; commands that need plugins report it
        click.echo(f"warning: {exc}", err=True)
    cli()


if __name__ == "__main__":
    main()
