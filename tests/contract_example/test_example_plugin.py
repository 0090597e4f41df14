"""A separately packaged third-party plugin works after `pip install`, with no core edit.

`tests/example_plugin` (distribution `zhongcao-example-wishlist`) is built and installed
into a temporary folder (never into the venv), then a fresh Python process with that
folder on PYTHONPATH loads it through its `zhongcao.plugins` entry point and exercises
every piece: its model and Alembic branch, its event type, its API and storefront
routes, its template, and its event handler (delivered after commit).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PLUGIN_SRC = REPO / "tests" / "example_plugin"
ZHONGCAO = Path(sys.executable).parent / "zhongcao"

SCENARIO = textwrap.dedent(
    r'''
    import asyncio, json, sys, time

    from litestar.testing import AsyncTestClient
    from sqlalchemy import func, select

    from core import migrate
    from core.app import create_app
    from core.catalog.models import Brand
    from core.events import Event, EventReceipt, OutboxEvent
    from core.runtime import create_runtime

    EMAIL, PASSWORD = "wish@example.com", "wishlist-pass-123"


    async def main() -> dict:
        out = {}
        runtime = create_runtime()
        info = runtime.pm.infos["wishlist"]
        out["plugin"] = {"name": info.name, "version": info.version, "kind": info.kind,
                         "module": info.module, "distribution": info.distribution}
        out["event_type_registered"] = "wishlist.item_added" in runtime.event_types
        out["models"] = sorted(m.__tablename__ for m in runtime.models if m.__tablename__.startswith("wishlist_"))

        await migrate.upgrade(runtime)
        out["dialect"] = runtime.db.engine.dialect.name
        out["heads"] = migrate.branch_heads(runtime).get("wishlist")
        out["current_heads"] = sorted(await migrate.current_heads(runtime))
        out["drift"] = await migrate.check(runtime)
        await migrate.upgrade(runtime)  # a second upgrade is a no-op

        async with runtime.db.session() as s:
            s.add(Brand(slug="camellia-skin", name="山茶花护肤 Camellia Skin", description=""))
            await s.commit()

        from zc_wishlist.models import WishlistItem, WishlistNotification

        app = create_app(runtime=runtime)
        async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
            r = await client.post("/api/v1/wishlist/items", json={"brand_slug": "camellia-skin"})
            out["anonymous_post_status"] = r.status_code

            r = await client.post("/api/v1/auth/signup", json={"email": EMAIL, "password": PASSWORD, "display_name": "Wish"})
            assert r.status_code == 201, r.text
            auth = {"Authorization": f"Bearer {r.json()['access_token']}"}

            r = await client.post("/api/v1/wishlist/items", json={"brand_slug": "no-such-brand"}, headers=auth)
            out["unknown_brand_status"] = r.status_code
            r = await client.post("/api/v1/wishlist/items", json={"brand_slug": "camellia-skin"}, headers=auth)
            out["post_status"] = r.status_code
            out["posted"] = r.json()
            r = await client.get("/api/v1/wishlist/items", headers=auth)
            out["get_status"] = r.status_code
            out["listed"] = [i["brand_slug"] for i in r.json()]

            r = await client.get("/schema/openapi.json")
            out["openapi_paths"] = sorted(p for p in r.json().get("paths", {}) if "wishlist" in p)

            r = await client.get("/wishlist/", follow_redirects=False)
            out["anonymous_page_status"] = r.status_code
            out["anonymous_page_location"] = r.headers.get("location")

            # log in through the HTML form, CSRF token included, as a browser would
            await client.get("/login")
            csrf = client.cookies.get("zc_csrf")
            r = await client.post("/login", data={"email": EMAIL, "password": PASSWORD, "_csrf_token": csrf, "next": "/account"},
                                  follow_redirects=False)
            out["login_status"] = r.status_code
            r = await client.get("/wishlist/")
            out["page_status"] = r.status_code
            out["page_has_item"] = 'data-brand="camellia-skin"' in r.text
            out["page_has_items_list"] = 'data-testid="wishlist-items"' in r.text
            out["page_extends_base"] = 'data-testid="test-mode-banner"' in r.text and 'data-testid="account-link"' in r.text
            out["page_title_zh"] = "我的心愿单" in r.text
            r = await client.get("/account")
            out["account_has_slot_link"] = 'data-testid="wishlist-link"' in r.text

            # the handler runs in a job after the commit; wait for its marker row
            event_id, deadline = None, time.monotonic() + 10
            while time.monotonic() < deadline:
                async with runtime.db.session() as s:
                    event_id = (await s.execute(select(WishlistNotification.event_id))).scalar_one_or_none()
                if event_id:
                    break
                await asyncio.sleep(0.05)
            out["notified_after_s"] = round(10 - (deadline - time.monotonic()), 2)
            out["notification_event_id"] = event_id
            async with runtime.db.session() as s:
                row = (await s.execute(select(OutboxEvent).where(OutboxEvent.type == "wishlist.item_added"))).scalar_one()
                out["outbox_event_id"] = row.event_id
                out["outbox_payload"] = row.payload
                out["receipts"] = sorted(
                    (await s.execute(select(EventReceipt.handler).where(EventReceipt.event_id == row.event_id))).scalars()
                )
                event = Event(id=row.event_id, type=row.type, payload=row.payload, occurred_at=row.occurred_at)

            # delivered again (at-least-once): still one marker
            await runtime.pm.get_plugin("wishlist").handle_event(event=event, runtime=runtime)
            async with runtime.db.session() as s:
                out["notifications_after_redelivery"] = (
                    await s.execute(select(func.count()).select_from(WishlistNotification))
                ).scalar_one()
                out["items_in_db"] = (await s.execute(select(func.count()).select_from(WishlistItem))).scalar_one()
        await runtime.dispose_loop_databases()
        return out


    print("SUMMARY " + json.dumps(asyncio.run(main()), ensure_ascii=False, default=str))
    '''
)


def _clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment without any ZHONGCAO_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHONGCAO_")}
    env.update(extra)
    return env


def _with_pythonpath(env: dict[str, str], first: Path) -> dict[str, str]:
    rest = os.environ.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([str(first), rest] if rest else [str(first)])
    return env


def _pg_admin(admin_url: str, sql: str) -> None:
    code = "import asyncio, sys, asyncpg\n" \
           "async def go():\n" \
           "    c = await asyncpg.connect(sys.argv[1])\n" \
           "    try: await c.execute(sys.argv[2])\n" \
           "    finally: await c.close()\n" \
           "asyncio.run(go())\n"
    subprocess.run([sys.executable, "-c", code, admin_url, sql], check=True, timeout=60)


@pytest.fixture
def plugin_database(tmp_path: Path):
    """SQLite under tmp_path; on the PostgreSQL run, a database of its own on that server."""
    admin = os.environ.get("ZHONGCAO_TEST_PG_ADMIN_URL")
    if not (admin and os.environ.get("ZHONGCAO_TEST_DATABASE_URL")):
        yield None  # the default: SQLite file under ZHONGCAO_VAR_DIR
        return
    name = f"zc_wishlist_{uuid.uuid4().hex[:10]}"
    _pg_admin(admin, f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin)
    try:
        yield urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", "", ""))
    finally:
        _pg_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def installed_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install --no-deps --no-build-isolation --target <tmp>/site tests/example_plugin`."""
    root = tmp_path_factory.mktemp("wishlist-plugin")
    src = root / "src"  # build from a copy: setuptools leaves build/ and *.egg-info beside the sources
    shutil.copytree(PLUGIN_SRC, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = root / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--no-cache-dir", "--quiet", "--target", str(site), str(src)],
        capture_output=True, text=True, timeout=300, env=_clean_env(),
    )
    if result.returncode != 0 and "invalid command 'bdist_wheel'" in result.stdout + result.stderr:
        pytest.fail("the venv's setuptools cannot build wheels (setuptools < 70.1 and no `wheel` package); "
                    "the [test] extra needs 'setuptools>=70.1'\n" + result.stdout[-2000:])
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "zc_wishlist" / "hooks.py").is_file()
    assert (site / "zc_wishlist" / "templates" / "wishlist" / "index.html").is_file()
    assert (site / "zc_wishlist" / "migrations" / "versions" / "0001_wishlist.py").is_file()
    assert list(site.glob("zhongcao_example_wishlist-0.1.0.dist-info"))
    return site


def test_plugin_installed_by_pip_works_end_to_end(installed_site: Path, plugin_database: str | None, tmp_path: Path) -> None:
    script = tmp_path / "scenario.py"
    script.write_text(SCENARIO)
    env = _with_pythonpath(_clean_env(
        ZHONGCAO_VAR_DIR=str(tmp_path / "var"),
        ZHONGCAO_SECRET_KEY="example-plugin-test-secret",
        ZHONGCAO_RELAY_POLL_SECONDS="0.2",
        ZHONGCAO_QUEUE_NAMESPACE=f"zcwish-{uuid.uuid4().hex[:8]}",
    ), installed_site)
    if plugin_database:
        env["ZHONGCAO_DATABASE_URL"] = plugin_database
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    summary_lines = [line for line in result.stdout.splitlines() if line.startswith("SUMMARY ")]
    assert result.returncode == 0 and summary_lines, f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    s = json.loads(summary_lines[-1].removeprefix("SUMMARY "))

    # loaded through its entry point, from the pip-installed distribution
    assert s["plugin"] == {"name": "wishlist", "version": "0.1.0", "kind": "plugin", "module": "zc_wishlist.hooks",
                           "distribution": "zhongcao-example-wishlist"}
    assert s["event_type_registered"] is True
    assert s["models"] == ["wishlist_item", "wishlist_notification"]
    assert s["dialect"] == ("postgresql" if plugin_database else "sqlite")
    # its own Alembic branch, upgraded with the core's, matching its models
    assert s["heads"] == ["0001_wishlist"]
    assert "0001_wishlist" in s["current_heads"]
    assert s["drift"] is None
    # API routes, mounted under its prefix, behind login
    assert s["anonymous_post_status"] == 401
    assert s["unknown_brand_status"] == 404
    assert s["post_status"] == 201 and s["posted"]["brand_slug"] == "camellia-skin"
    assert s["get_status"] == 200 and s["listed"] == ["camellia-skin"]
    assert s["openapi_paths"] == ["/api/v1/wishlist/items"]
    # storefront page with its own template on top of storefront/base.html
    assert s["anonymous_page_status"] in (302, 303, 307) and s["anonymous_page_location"].startswith("/login")
    assert s["login_status"] == 303
    assert s["page_status"] == 200
    assert s["page_has_items_list"] and s["page_has_item"] and s["page_extends_base"] and s["page_title_zh"]
    assert s["account_has_slot_link"] is True
    # event recorded in the same transaction and handled after the commit, once
    assert s["outbox_payload"] == {"item_id": s["posted"]["id"], "user_id": s["outbox_payload"]["user_id"], "brand_slug": "camellia-skin"}
    assert s["notification_event_id"] == s["outbox_event_id"], f"handler marker not written within 10 s: {s}"
    assert "wishlist" in s["receipts"]
    assert s["notifications_after_redelivery"] == 1
    assert s["items_in_db"] == 1


def test_zhongcao_plugins_lists_the_installed_plugin(installed_site: Path, tmp_path: Path) -> None:
    env = _with_pythonpath(_clean_env(ZHONGCAO_VAR_DIR=str(tmp_path / "var")), installed_site)
    result = subprocess.run([str(ZHONGCAO), "plugins"], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    line = next((line for line in result.stdout.splitlines() if line.startswith("wishlist ")), None)
    assert line is not None, result.stdout
    assert re.match(r"^wishlist\s+0\.1\.0\s+plugin\s+zc_wishlist\.hooks$", line), line
    hooks_line = result.stdout.splitlines()[result.stdout.splitlines().index(line) + 1]
    for hook in ("handle_event", "register_event_types", "register_migrations", "register_models", "register_routes", "register_templates"):
        assert hook in hooks_line, hooks_line


def test_plugin_is_not_installed_in_the_venv() -> None:
    """The install above went to a temporary folder: the venv itself is untouched."""
    from importlib.metadata import PackageNotFoundError, distribution

    with pytest.raises(PackageNotFoundError):
        distribution("zhongcao-example-wishlist")
