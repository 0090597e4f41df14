import pytest


@pytest.fixture(autouse=True)
def _app_running(zc_client):  # noqa: ANN001, PT004 - the app's lifespan runs the job worker and the event relay
    return zc_client
