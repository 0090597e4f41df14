import anyio
import pytest
from litestar.testing import websocket_test_session


@pytest.fixture(autouse=True)
def _app_running(zc_client):  # noqa: ANN001, PT004 - the app's lifespan runs the job worker and the event relay
    return zc_client


@pytest.fixture(autouse=True)
def _quiet_test_sockets(monkeypatch):  # noqa: PT004
    """Litestar's WebSocket test session waits for the test's frames with `sleep(0)` in a
    loop: an open socket keeps a core busy. A 2 ms nap costs the tests nothing and gives
    the CPU back to the other test pass."""

    async def nap(delay: float = 0) -> None:
        await anyio.sleep(delay or 0.002)

    monkeypatch.setattr(websocket_test_session, "sleep", nap)
