"""The baseline for bench/http_overhead.py: a bare Litestar hello-world.

One GET `/` handler returning a small JSON dict, no middleware, no plugins,
no database. Whatever Zhongcao costs on top of this is "framework + app
overhead"; whatever this costs is the server + Litestar floor.
"""

from __future__ import annotations

from litestar import Litestar, get


@get("/")
async def index() -> dict[str, str]:
    return {"hello": "world"}


app = Litestar(route_handlers=[index], debug=False)
