"""Hooks the live plugin publishes for other plugins (added to the plugin manager through
`plugins.live.hooks.HOOKSPECS`). Implement them with `@hookimpl(optionalhook=True)`, so
your plugin still loads when the live plugin is disabled."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core import hookspec

if TYPE_CHECKING:
    from core.runtime import Runtime


@hookspec
def register_stream_providers(runtime: Runtime) -> list[Any]:
    """Return video services rooms can stream through (registration: sync, at start-up).

    Each is a `plugins.live.streams.StreamProvider`: a `name` (stored on the room), a
    `label`, and `ingest(room)` -> `StreamIngest(server, key)` (what the host's encoder
    pushes to) and `playback_url(room)` (the HLS address viewers play), both computed from
    the room (its id and its secret `ingest_key`) without calling the service: no network
    call happens while a room is made. A hosted service (Mux, Cloudflare Stream) maps the
    room to its own stream here; the live plugin's own `nginx_rtmp` serves the self-hosted
    set-up in docs/live.md. Rooms use `ZHONGCAO_LIVE_STREAM_PROVIDER` (default
    `nginx_rtmp`); two providers with one name stop the start-up.
    """
