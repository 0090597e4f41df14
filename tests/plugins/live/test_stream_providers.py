"""`register_stream_providers` (published by the live plugin): a hosted video service plugs
in, rooms made while it is configured stream through it (its ingest server in the host's
console, its playback URL for viewers); two providers of one name stop the start-up."""

from __future__ import annotations

import pytest

from core import hookimpl
from core.plugin_manager import PluginError
from plugins.live import service
from plugins.live.streams import StreamIngest, provider_for, stream_providers
from tests.creator_portal.test_commerce_pages import portal_login
from tests.plugins.live.helpers import actor_of


class FakeCloud:
    name = "fake_cloud"
    label = "Fake Cloud Stream"

    def ingest(self, room):
        return StreamIngest(server="rtmps://ingest.fake-cloud.example:443/app", key=f"fc-{room.id}-{room.ingest_key[:6]}")

    def playback_url(self, room):
        return f"https://stream.fake-cloud.example/{room.ingest_key}/manifest.m3u8"


class FakeCloudPlugin:
    @hookimpl(optionalhook=True)
    def register_stream_providers(self, runtime):
        return [FakeCloud()]


@pytest.fixture
def zc_extra_plugins():
    return [("fake_cloud", FakeCloudPlugin())]


async def test_a_hosted_provider_streams_the_rooms_made_while_it_is_configured(zc_client, zc_runtime, zc_make_user, monkeypatch):
    assert set(stream_providers(zc_runtime)) == {"nginx_rtmp", "fake_cloud"}
    owner = await zc_make_user(brand=("cloud-brand", "owner"))
    actor = await actor_of(zc_runtime, owner)
    async with zc_runtime.db.session() as s:
        own = await service.create_room(s, zc_runtime, actor, "cloud-brand", title="Self-hosted")
        await s.commit()
    assert own.stream_provider == "nginx_rtmp" and own.playback_url == f"/hls/{own.ingest_key}.m3u8"

    monkeypatch.setenv("ZHONGCAO_LIVE_STREAM_PROVIDER", "fake_cloud")
    async with zc_runtime.db.session() as s:
        hosted = await service.create_room(s, zc_runtime, actor, "cloud-brand", title="Hosted")
        await service.go_live(s, zc_runtime, actor, hosted.id)
        await s.commit()
    assert hosted.stream_provider == "fake_cloud" and hosted.playback_url.startswith("https://stream.fake-cloud.example/")
    await portal_login(zc_client, owner.email)
    console = await zc_client.get(f"/creator/live/rooms/{hosted.id}", headers={"accept-language": "en"})
    assert "rtmps://ingest.fake-cloud.example:443/app" in console.text and f"fc-{hosted.id}-" in console.text
    page = await zc_client.get(f"/live/{hosted.id}")
    assert f'data-src="{hosted.playback_url}"' in page.text

    monkeypatch.setenv("ZHONGCAO_LIVE_STREAM_PROVIDER", "nowhere")
    with pytest.raises(PluginError, match="no stream provider named 'nowhere'"):
        provider_for(zc_runtime)


def test_two_providers_of_one_name_stop_the_start_up(zc_runtime):
    class Twin(FakeCloudPlugin):
        pass

    zc_runtime.pm.register(Twin(), name="fake_cloud_twin")
    zc_runtime._live_stream_providers = None
    with pytest.raises(PluginError, match="two stream providers are named 'fake_cloud'"):
        stream_providers(zc_runtime)
