"""ASGI entry for servers: `granian --interface asgi core.asgi:app` or `uvicorn core.asgi:app`."""

from core.app import create_app

app = create_app()
