"""The plugin contract as a whole: docs, tests and the fixture plugin cover every hook;
the packaging, the migration branches and `zhongcao plugins` are what plugin authors
are told they are."""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import core
from core import PROJECT_NAME, hookspecs, migrate
from core.plugin_manager import build_plugin_manager
from core.runtime import create_runtime
from core.testing import make_test_settings
from tests.fixture_plugins import everything

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "plugins.md"
TESTS = REPO / "tests"
SPEC_MARK = f"{PROJECT_NAME}_spec"  # set by pluggy's HookspecMarker
IMPL_MARK = f"{PROJECT_NAME}_impl"
OUR_PACKAGES = ("core", "plugins", "storefront", "creator_portal", "migrations")
BUILTIN_PLUGINS = ("notes", "feed", "live", "group_buy")


def all_hooks() -> list[str]:
    return sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, SPEC_MARK))


def test_hook_list_is_what_pluggy_sees():
    pm = build_plugin_manager(load_entrypoints=False)
    pluggy_hooks = {name for name in dir(pm.hook) if not name.startswith("_")}
    assert set(all_hooks()) == pluggy_hooks
    assert len(all_hooks()) >= 14


def test_every_hook_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `([a-z_]+)`\s*$", text, re.M))
    missing = [name for name in all_hooks() if name not in documented]
    assert not missing, f"docs/plugins.md has no '### `name`' section for: {', '.join(missing)}"
    unknown = sorted(documented - set(all_hooks()))
    assert not unknown, f"docs/plugins.md documents hooks that do not exist: {', '.join(unknown)}"


def test_every_hook_has_a_contract_test():
    names: set[str] = set()
    for path in TESTS.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    missing = [name for name in all_hooks() if f"test_hook_{name}" not in names]
    assert not missing, f"no test_hook_<name> function under tests/ for: {', '.join(missing)}"


def test_fixture_plugin_implements_every_hook():
    marked = sorted(name for name in all_hooks() if hasattr(getattr(everything, name, None), IMPL_MARK))
    assert marked == all_hooks(), f"not implemented: {sorted(set(all_hooks()) - set(marked))}"
    pm = build_plugin_manager(load_entrypoints=False, extra=[("everything", everything)])
    registered = sorted(h.name for h in pm.get_hookcallers(pm.get_plugin("everything")))
    assert registered == all_hooks()


@pytest.mark.parametrize("package", OUR_PACKAGES)
def test_no_other_distribution_shadows_our_packages(package):
    owners = importlib.metadata.packages_distributions().get(package, [])
    assert set(owners) == {"zhongcao"}, f"import package {package!r} is provided by {sorted(set(owners))}"
    module = __import__(package)
    files = [Path(f).resolve() for f in ([module.__file__] if module.__file__ else list(module.__path__))]
    assert files and all(f.is_relative_to(REPO) for f in files), f"{package} imported from {files}, not {REPO}"


def test_core_is_imported_from_this_repo():
    assert Path(core.__file__).resolve().is_relative_to(REPO)


def test_one_alembic_head_per_branch(tmp_path):
    runtime = create_runtime(make_test_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"))
    heads = migrate.branch_heads(runtime)
    assert set(heads) == {"core", *BUILTIN_PLUGINS}
    several = {label: revs for label, revs in heads.items() if len(revs) != 1}
    assert not several, f"branches without exactly one head: {several}"


def _zhongcao(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "zhongcao"
    assert exe.exists(), f"no console script at {exe}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZHONGCAO_")}
    clean.update(env)
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=tmp_path, env=clean, timeout=120)


def test_zhongcao_plugins_lists_builtin_plugins(tmp_path):
    result = _zhongcao(["plugins"], tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.startswith(" "):
            rows[parts[0]] = parts[1:]
    for name in BUILTIN_PLUGINS:
        assert name in rows, f"{name} missing from `zhongcao plugins`:\n{result.stdout}"
        version, kind = rows[name][0], rows[name][1]
        assert (version, kind) == ("0.1.0", "plugin"), (name, rows[name])
    assert rows["core"][:2] == ["0.1.0", "core"]


def test_zhongcao_plugins_refuses_unknown_disabled_plugin(tmp_path):
    result = _zhongcao(["plugins"], tmp_path, ZHONGCAO_PLUGINS_DISABLED="nope")
    assert result.returncode != 0
    assert "nope" in result.stderr
    assert "feed" not in result.stdout.split()  # nothing listed as if it had loaded


def test_zhongcao_plugins_disables_a_plugin(tmp_path):
    result = _zhongcao(["plugins"], tmp_path, ZHONGCAO_PLUGINS_DISABLED="live")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line and not line.startswith(" ")}
    assert "live" not in listed and {"notes", "feed", "group_buy"} <= listed
