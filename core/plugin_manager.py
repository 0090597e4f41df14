"""Build the pluggy plugin manager: no module-level global, one per app."""

from __future__ import annotations

import inspect
import logging
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from core import PROJECT_NAME, __version__, hookspecs

ENTRY_POINT_GROUP = "zhongcao.plugins"
# The storefront and the creator portal hook in the same way, so the core never imports
# them and a headless deployment simply disables both.
SURFACE_GROUP = "zhongcao.surfaces"
CORE_PLUGIN_NAME = "core"
log = logging.getLogger("zhongcao.plugins")


class PluginError(RuntimeError):
    """A plugin cannot be loaded; the message names the plugin and, where known, the hook."""


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    module: str
    distribution: str | None
    kind: str = "plugin"  # "core", "surface" or "plugin"
    hooks: tuple[str, ...] = field(default_factory=tuple)


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus what Zhongcao knows about each plugin."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.infos: dict[str, PluginInfo] = {}

    def plugins_info(self) -> list[PluginInfo]:
        out = []
        for name, info in sorted(self.infos.items()):
            plugin = self.get_plugin(name)
            hooks = tuple(sorted(h.name for h in self.get_hookcallers(plugin) or ())) if plugin else ()
            out.append(PluginInfo(info.name, info.version, info.module, info.distribution, info.kind, hooks))
        return out

    async def acall_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """`call_each` for runtime hooks that may be async: awaits what is awaitable."""
        results = []
        for name, result in self.call_each(hook_name, **kwargs):
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                results.append((name, result))
        return results

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a synchronous hook plugin by plugin, in registration order (the core, the
        surfaces, then plugins), and keep who returned what.

        Used where the result belongs under the plugin's name (route prefixes, event
        types, migration branches) and where later contributions override earlier ones.
        """
        caller = getattr(self.hook, hook_name)
        results = []
        for impl in caller.get_hookimpls():
            if self.trace_enabled:
                log.info("hook %s(%s) -> %s", hook_name, ", ".join(kwargs), impl.plugin_name)
            result = impl.function(**{name: kwargs[name] for name in impl.argnames})  # only what it names, as pluggy does
            if result is not None:
                results.append((impl.plugin_name, result))
        return results

    trace_enabled = False


def _add_tracing(pm: PluginManager) -> None:
    def before(hook_name: str, hook_impls: list, kwargs: dict) -> None:
        log.info("hook %s(%s) -> %s", hook_name, ", ".join(kwargs), [i.plugin_name for i in hook_impls])

    def after(outcome: Any, hook_name: str, hook_impls: list, kwargs: dict) -> None:
        exc = outcome.exception
        log.info("hook %s done%s", hook_name, f" with {type(exc).__name__}: {exc}" if exc else "")

    pm.trace_enabled = True
    pm.add_hookcall_monitoring(before, after)


def _register(pm: PluginManager, plugin: object, name: str, version: str, dist: str | None, kind: str) -> None:
    specs = getattr(plugin, "HOOKSPECS", None)  # hooks the plugin publishes for others (e.g. feed_candidates)
    try:
        if specs is not None:
            pm.add_hookspecs(specs)
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r}: {exc}") from exc
    except ValueError as exc:
        raise PluginError(f"plugin {name!r}: {exc}") from exc
    pm.infos[name] = PluginInfo(name, version, getattr(plugin, "__name__", type(plugin).__name__), dist, kind)


_FOUND: dict[tuple[str, tuple[str, ...]], tuple[tuple[Any, str | None, str], ...]] = {}


def _entry_points(group: str) -> tuple[tuple[Any, str | None, str], ...]:
    """The group's entry points with their distribution's name and version, found once
    per search path: scanning every installed distribution costs ~15 ms, and a process
    (a test run above all) builds many plugin managers. A new folder on sys.path is
    searched afresh."""
    key = (group, tuple(sys.path))
    found = _FOUND.get(key)
    if found is None:
        found = _FOUND[key] = tuple((ep, ep.dist.name if ep.dist else None, ep.dist.version if ep.dist else "unknown") for ep in entry_points(group=group))
    return found


def available_plugin_names() -> list[str]:
    return sorted({ep.name for group in (SURFACE_GROUP, ENTRY_POINT_GROUP) for ep, _d, _v in _entry_points(group)})


def build_plugin_manager(
    disabled: tuple[str, ...] | list[str] = (),
    extra: tuple[tuple[str, object], ...] | list[tuple[str, object]] = (),
    load_entrypoints: bool = True,
    trace: bool = False,
) -> PluginManager:
    """Core defaults first, then entry-point plugins (minus `disabled`), then `extra`.

    `extra` is (name, plugin) pairs registered directly, for tests and embedding.
    """
    from core import defaults

    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    _register(pm, defaults, CORE_PLUGIN_NAME, __version__, PROJECT_NAME, "core")

    eps = []
    if load_entrypoints:
        eps = [(found, "surface") for found in _entry_points(SURFACE_GROUP)]
        eps += [(found, "plugin") for found in sorted(_entry_points(ENTRY_POINT_GROUP), key=lambda f: f[0].name)]
    known = {ep.name for (ep, _d, _v), _ in eps} | {name for name, _ in extra}
    unknown = sorted(set(disabled) - known)
    if unknown:
        raise PluginError(
            f"ZHONGCAO_PLUGINS_DISABLED names unknown plugin(s): {', '.join(unknown)}; "
            f"installed: {', '.join(sorted(known)) or 'none'}"
        )
    seen: set[str] = set()
    for (ep, dist, dist_version), kind in eps:
        if ep.name in disabled or ep.name in seen:
            continue
        seen.add(ep.name)
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - report which plugin broke
            raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to import: {exc!r}") from exc
        version = getattr(plugin, "__version__", None) or dist_version
        _register(pm, plugin, ep.name, version, dist, kind)
    for name, plugin in extra:
        if name in disabled:
            continue
        _register(pm, plugin, name, getattr(plugin, "__version__", "unknown"), None, "plugin")

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        plugin_name = pm.get_name(exc.plugin) if exc.plugin is not None else "?"
        raise PluginError(f"plugin {plugin_name!r}: {exc}") from exc
    if trace:
        _add_tracing(pm)
    return pm
