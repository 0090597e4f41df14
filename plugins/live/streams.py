"""Where a room's video goes in and comes out: stream providers (the
`register_stream_providers` hook), and the live plugin's own, self-hosted nginx-rtmp."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from core.plugin_manager import PluginError

if TYPE_CHECKING:
    from core.runtime import Runtime
    from plugins.live.models import LiveRoom

DEFAULT_PROVIDER = "nginx_rtmp"


@dataclass(frozen=True)
class StreamIngest:
    server: str  # e.g. rtmp://live.example.com/live
    key: str  # the stream key: secret


class StreamProvider(Protocol):
    name: str
    label: str

    def ingest(self, room: LiveRoom) -> StreamIngest: ...

    def playback_url(self, room: LiveRoom) -> str: ...


class NginxRtmp:
    """nginx with libnginx-mod-rtmp (docs/live.md): OBS pushes to `ZHONGCAO_LIVE_RTMP_URL`
    with the room's key; nginx writes `{key}.m3u8` under `ZHONGCAO_LIVE_HLS_BASE`."""

    name = DEFAULT_PROVIDER
    label = "nginx-rtmp (self-hosted)"

    def ingest(self, room: LiveRoom) -> StreamIngest:
        return StreamIngest(server=os.environ.get("ZHONGCAO_LIVE_RTMP_URL", "rtmp://localhost:1935/live"), key=room.ingest_key)

    def playback_url(self, room: LiveRoom) -> str:
        base = (os.environ.get("ZHONGCAO_LIVE_HLS_BASE") or "/hls").rstrip("/")
        return f"{base}/{room.ingest_key}.m3u8"


def stream_providers(runtime: Runtime) -> dict[str, Any]:
    """Name -> provider: the plugin's own and every plugin's; asked once per runtime."""
    cached = getattr(runtime, "_live_stream_providers", None)
    if cached is not None:
        return cached
    found: dict[str, Any] = {}
    hook = getattr(runtime.pm.hook, "register_stream_providers", None)
    for provided in hook(runtime=runtime) if hook is not None else []:
        for provider in provided or []:
            if provider.name in found:
                raise PluginError(f"hook register_stream_providers: two stream providers are named {provider.name!r}")
            found[provider.name] = provider
    runtime._live_stream_providers = found  # noqa: SLF001 - the runtime's own cache
    return found


def provider_for(runtime: Runtime, name: str | None = None) -> Any:
    """The provider of this name, or the configured default."""
    name = name or os.environ.get("ZHONGCAO_LIVE_STREAM_PROVIDER") or DEFAULT_PROVIDER
    providers = stream_providers(runtime)
    if name not in providers:
        raise PluginError(f"no stream provider named {name!r} (have: {', '.join(sorted(providers)) or 'none'})")
    return providers[name]
