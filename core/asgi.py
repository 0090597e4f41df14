"""ASGI entry for servers: `granian --interface asgi core.asgi:app` or `uvicorn core.asgi:app`."""

import gc

from core.app import create_app


def _freeze_heap(_app: object) -> None:
    """Take what the process built to start (modules, routes, templates, the ORM's
    mappings: several hundred thousand objects that live as long as it does) out of the
    cyclic garbage collector's view. Otherwise every full collection walks them all, a
    0.2 s pause that holds up every request and every open WebSocket
    (bench/live_fanout.py: the room's p99 latency). Objects made later are collected as
    before."""
    gc.collect()
    gc.freeze()


app = create_app()
app.on_startup.append(_freeze_heap)
