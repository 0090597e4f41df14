"""Real-browser fixtures: the real product (`zhongcao demo`) in a subprocess, driven by
Debian's chromium through Playwright.

The demo is the embedded mode (SQLite, in-process jobs), so it runs the same on the
SQLite and the PostgreSQL test passes: every ZHONGCAO_* variable is dropped from its
environment.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("ZHONGCAO_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ZHONGCAO = Path(sys.executable).parent / "zhongcao"
DEMO_PASSWORD = "zhongcao-demo"
MOBILE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
# screenshots of each step (`shot`): $ZHONGCAO_TEST_ARTIFACTS/browser, else var/test-artifacts/browser in the repo
ARTIFACTS = Path(os.environ.get("ZHONGCAO_TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "var" / "test-artifacts") / "browser"


# run in the PostgreSQL pass: the two passes run side by side, these even them out
PG_PASS_FILES = {"test_portal_browser.py", "test_live_room_browser.py"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The demo these tests drive is the embedded mode (SQLite) in both passes of
    scripts/test.sh, so they run once: most in the SQLite pass, PG_PASS_FILES (the
    portal's journeys, the live room) in the PostgreSQL pass (a single pass, e.g. pytest
    run by hand on SQLite, runs all)."""
    backend = os.environ.get("ZHONGCAO_TEST_BACKEND")
    both_passes = os.environ.get("ZHONGCAO_TEST_PASSES") == "both"
    here = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath))
        if path.parent != here:
            continue
        pg_pass = path.name in PG_PASS_FILES
        if backend == "postgres" and not pg_pass:
            item.add_marker(pytest.mark.skip(reason="browser tests drive the embedded (SQLite) demo: this one runs in the SQLite pass"))
        elif backend != "postgres" and pg_pass and both_passes:
            item.add_marker(pytest.mark.skip(reason="browser tests drive the embedded (SQLite) demo: this one runs in the PostgreSQL pass of scripts/test.sh"))


def _chromium_path() -> str | None:
    found = CHROMIUM if os.path.isabs(CHROMIUM) else shutil.which(CHROMIUM)
    return found if found and os.access(found, os.X_OK) else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=1) as r:  # noqa: S310 - loopback only
            return r.status == 200
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def seeded_demo(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    """A folder `zhongcao demo --seed-only` filled, once per run (the pytest-xdist workers
    share it): a module's demo starts from a copy of it (`demo_folder`), and its own seed
    on start finds everything there, instead of seeding for ~15 s each time."""
    from core.testing import once_per_run

    return Path(once_per_run(pytestconfig, "browser-seeded-demo", lambda: str(_seed_demo(tmp_path_factory)))[0])


def _seed_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo-seeded")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHONGCAO_")}
    env["ZHONGCAO_VAR_DIR"] = str(folder)
    done = subprocess.run([str(ZHONGCAO), "demo", "--seed-only"], env=env, cwd=folder, capture_output=True, timeout=300, check=False)
    if done.returncode != 0:
        pytest.fail(f"zhongcao demo --seed-only failed:\n{(done.stdout + done.stderr).decode(errors='replace')[-4000:]}")
    return folder


def demo_folder(seeded: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A private copy of the seeded demo's folder (database and media)."""
    target = tmp_path_factory.mktemp(name)
    shutil.copytree(seeded, target, dirs_exist_ok=True)
    return target


@pytest.fixture(scope="module")
def demo_url(seeded_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ZHONGCAO_VAR_DIR=<tmp> zhongcao demo --port <free>` on a copy of the seeded demo,
    up until /health answers."""
    with running_demo(demo_folder(seeded_demo, tmp_path_factory, "demo-var")) as base:
        yield base


@contextlib.contextmanager
def running_demo(var_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """The demo in `var_dir`, with no ZHONGCAO_* variable from outside but `extra_env`
    (a module overrides `demo_url` with it, e.g. to pay with Stripe)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHONGCAO_")}
    env.update(extra_env or {})
    env["ZHONGCAO_VAR_DIR"] = str(var_dir)
    log_path = var_dir / "demo.log"
    for _attempt in range(3):  # the port could be taken between picking and binding
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([str(ZHONGCAO), "demo", "--port", str(port)], env=env, cwd=var_dir, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not _healthy(base):
            time.sleep(0.1)
        if proc.poll() is None and _healthy(base):
            break
        _stop(proc)
    else:
        pytest.fail(f"zhongcao demo did not come up:\n{log_path.read_text(errors='replace')[-4000:]}")
    try:
        yield base
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    path = _chromium_path()
    if path is None:
        pytest.skip(f"no chromium at {CHROMIUM} (set ZHONGCAO_TEST_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser, demo_url):  # noqa: ANN001, ANN201
    """`new_page(**context_options)`: a page in a fresh browser context (own cookies), base URL set."""
    contexts = []

    def make(**options):  # noqa: ANN003, ANN202
        context = browser.new_context(base_url=demo_url, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest):  # noqa: ANN201
    """`shot(page, "step")`: the page as seen now, saved as ARTIFACTS/<test>-<nn>-<step>.png.
    Written whole and then renamed: the SQLite and PostgreSQL passes of scripts/test.sh run
    the same browser tests side by side, into the same folder."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    numbers = itertools.count(1)

    def take(page, step: str, *, full_page: bool = False) -> Path:  # noqa: ANN001
        path = ARTIFACTS / f"{test}-{next(numbers):02d}-{step}.png"
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_bytes(page.screenshot(full_page=full_page))
        os.replace(partial, path)
        return path

    return take
