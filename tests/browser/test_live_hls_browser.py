"""A live room's video, end to end: the self-hosted set-up of docs/live.md on free ports.

nginx with the RTMP module (a private nginx.conf, everything under the test's folder)
takes the stream; the demo runs with ZHONGCAO_LIVE_RTMP_URL / ZHONGCAO_LIVE_HLS_BASE
pointing at it. The brand schedules a room in the portal and goes live; ffmpeg pushes a
test pattern to the server and key the room console shows; nginx writes the HLS
playlist; the room page's <video> plays it in Chromium, once as Chromium chooses (native
HLS, where it has it) and once through the vendored hls.js (what browsers without native
HLS use: it fetches the playlist cross-origin, so nginx must send CORS headers).

Needs nginx, libnginx-mod-rtmp and ffmpeg (scripts/test.sh installs them); skips without.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.conftest import demo_folder, running_demo
from tests.browser.test_portal_browser import DESKTOP, portal_login
from tests.browser.test_purchase_browser import BRAND_OWNER, expect

NGINX = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
FFMPEG = shutil.which("ffmpeg")
MISSING = [name for name, found in (("nginx", NGINX), (f"the RTMP module ({RTMP_MODULE}, libnginx-mod-rtmp)", RTMP_MODULE.is_file()), ("ffmpeg", FFMPEG)) if not found]

pytestmark = [pytest.mark.browser, pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} (scripts/test.sh installs them)")]

BRAND = "camellia-skin"
# A browser without native HLS (Firefox, Chromium before it had it): live.js falls back to hls.js.
NO_NATIVE_HLS = """(() => {
  const canPlayType = HTMLMediaElement.prototype.canPlayType;
  HTMLMediaElement.prototype.canPlayType = function (type) { return /mpegurl/i.test(type) ? "" : canPlayType.call(this, type); };
})();"""
PLAYER_STATE = """() => {
  const v = document.getElementById("live-player");
  return v && {time: v.currentTime, ready: v.readyState, paused: v.paused, network: v.networkState,
               error: v.error && [v.error.code, v.error.message], src: v.currentSrc, hlsjs: !!v.hls};
}"""


def _free_ports(n: int) -> list[int]:
    """n distinct free ports, held together while picked so none comes twice."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


@contextlib.contextmanager
def _process(args: list[str], log: Path) -> Iterator[subprocess.Popen]:
    """A child in a session of its own: stopped with everything it forked, even when the test fails."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue


def nginx_conf(root: Path, rtmp_port: int, http_port: int) -> str:
    """docs/live.md's set-up with the ports, paths and process settings of a throwaway nginx."""
    user = "user root;" if os.geteuid() == 0 else ""  # as root, workers would drop to nobody and could not write here
    temp = "\n".join(f"    {name}_temp_path {root / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""
daemon off;
worker_processes 1;
{user}
pid {root}/nginx.pid;
error_log {root}/error.log info;
load_module {RTMP_MODULE};
events {{ worker_connections 64; }}

rtmp {{
    server {{
        listen 127.0.0.1:{rtmp_port};
        application live {{
            live on;
            hls on;
            hls_path {root}/hls;
            hls_fragment 2s;
            hls_playlist_length 10s;
            deny play all;
        }}
    }}
}}

http {{
    access_log {root}/access.log;
{temp}
    server {{
        listen 127.0.0.1:{http_port};
        location /hls/ {{
            root {root};
            add_header Cache-Control no-cache;
            add_header Access-Control-Allow-Origin *;
            types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}
        }}
    }}
}}
"""


@dataclass(frozen=True)
class VideoHost:
    rtmp_url: str  # ZHONGCAO_LIVE_RTMP_URL
    hls_base: str  # ZHONGCAO_LIVE_HLS_BASE
    folder: Path


@pytest.fixture(scope="module")
def video_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VideoHost]:
    """nginx-rtmp on two free ports (RTMP in, HLS out over HTTP), up until both listen."""
    root = tmp_path_factory.mktemp("nginx-rtmp")
    rtmp_port, http_port = _free_ports(2)
    (root / "nginx.conf").write_text(nginx_conf(root, rtmp_port, http_port))
    with _process([str(NGINX), "-p", str(root), "-e", str(root / "error.log"), "-c", str(root / "nginx.conf")], root / "nginx.out") as proc:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None and not (_listening(rtmp_port) and _listening(http_port)):
            time.sleep(0.1)
        if proc.poll() is not None or not (_listening(rtmp_port) and _listening(http_port)):
            pytest.fail(f"nginx-rtmp did not come up:\n{_tail(root / 'nginx.out')}\n{_tail(root / 'error.log')}")
        yield VideoHost(rtmp_url=f"rtmp://127.0.0.1:{rtmp_port}/live", hls_base=f"http://127.0.0.1:{http_port}/hls", folder=root)


@pytest.fixture(scope="module")
def demo_url(seeded_demo: Path, tmp_path_factory: pytest.TempPathFactory, video_host: VideoHost) -> Iterator[str]:
    """The demo, its rooms' video at the throwaway nginx (overrides conftest's)."""
    env = {"ZHONGCAO_LIVE_RTMP_URL": video_host.rtmp_url, "ZHONGCAO_LIVE_HLS_BASE": video_host.hls_base}
    with running_demo(demo_folder(seeded_demo, tmp_path_factory, "demo-live-hls-var"), env) as base:
        yield base


@pytest.fixture
def encoder(tmp_path: Path) -> Iterator[Callable[[str], subprocess.Popen]]:
    """`encoder(url)`: ffmpeg pushing a test pattern with a tone to an RTMP url, as OBS would."""
    with contextlib.ExitStack() as stack:

        def push(url: str) -> subprocess.Popen:
            args = [
                str(FFMPEG), "-nostdin", "-hide_banner", "-loglevel", "warning", "-re",
                "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-f", "lavfi", "-i", "sine",
                "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", "15",
                "-c:a", "aac", "-f", "flv", url,
            ]  # fmt: skip
            return stack.enter_context(_process(args, tmp_path / "ffmpeg.log"))

        yield push


def playlist(url: str) -> tuple[str, str] | None:
    """(the playlist, its Access-Control-Allow-Origin), or None while nginx has none yet."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - loopback only
            return r.read().decode(), r.headers.get("Access-Control-Allow-Origin", "")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def wait_for_playlist(url: str, ffmpeg: subprocess.Popen, logs: list[Path], timeout: float = 20.0) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = playlist(url)
        if found is not None and re.search(r"^[^#\s].*\.ts$", found[0], re.M):
            return found
        if ffmpeg.poll() is not None:
            break
        time.sleep(0.25)
    pytest.fail(f"no HLS playlist with a segment at {url} after {timeout} s (ffmpeg exit: {ffmpeg.poll()}):\n" + "\n".join(_tail(p) for p in logs))


def wait_until_playing(page, timeout: float = 25.0) -> dict:  # noqa: ANN001
    """The room's <video> has a frame to show and its clock has moved past half a second."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = page.evaluate(PLAYER_STATE)
        if state and state["ready"] >= 2 and state["time"] > 0.5:
            return state
        time.sleep(0.25)
    pytest.fail(f"the room's video did not play within {timeout} s: {state}")


def viewer(new_page, room_id: int, *, native_hls: bool):  # noqa: ANN001, ANN201
    """A shopper on the room page; without native HLS, as Firefox (live.js falls back to hls.js)."""
    page = new_page(**DESKTOP)
    if not native_hls:
        page.add_init_script(NO_NATIVE_HLS)
    page.goto(f"/live/{room_id}")
    return page


def test_a_pushed_stream_plays_on_the_room_page(new_page, encoder, video_host: VideoHost, shot, tmp_path: Path) -> None:  # noqa: ANN001
    # the brand schedules a room hosted by itself and goes live; the console shows where to push
    host = new_page(**DESKTOP)
    portal_login(host, BRAND_OWNER)
    host.goto(f"/creator/live/brands/{BRAND}/rooms")
    host.get_by_test_id("live-room-title").fill("测试信号 Test pattern live")
    host.get_by_test_id("live-room-create").click()
    expect()(host).to_have_url(re.compile(r"/creator/live/rooms/\d+"))
    room_id = int(re.search(r"/rooms/(\d+)", host.url).group(1))
    host.get_by_test_id("live-go").click()
    expect()(host.get_by_test_id("live-console")).to_have_attribute("data-room-status", "live")
    server = host.get_by_test_id("live-ingest-server").inner_text().strip()
    key = host.get_by_test_id("live-stream-key").inner_text().strip()
    assert server == video_host.rtmp_url
    url = f"{video_host.hls_base}/{key}.m3u8"

    # early viewers open the room before the encoder starts: no playlist yet
    early = {f"early-{kind}": viewer(new_page, room_id, native_hls=kind == "native") for kind in ("native", "hlsjs")}
    for page in early.values():
        expect()(page.get_by_test_id("live-player")).to_have_attribute("data-src", url)

    # the encoder pushes; nginx writes the playlist and serves it to other origins
    ffmpeg = encoder(f"{server}/{key}")
    logs = [tmp_path / "ffmpeg.log", video_host.folder / "error.log"]
    text, allow_origin = wait_for_playlist(url, ffmpeg, logs)
    assert allow_origin == "*", "hls.js fetches the playlist from the page's origin: nginx must allow it"
    assert "#EXTM3U" in text

    # late viewers open it as soon as the playlist has its first segment; everyone's video plays
    late = {f"late-{kind}": viewer(new_page, room_id, native_hls=kind == "native") for kind in ("native", "hlsjs")}
    for name, page in {**early, **late}.items():
        state = wait_until_playing(page)
        native = page.evaluate("document.createElement('video').canPlayType('application/vnd.apple.mpegurl')") != ""
        assert state["hlsjs"] == (not native), f"{name}: live.js played it {'through hls.js' if state['hlsjs'] else 'natively'}: {state}"
        shot(page, f"playing-{name}")
    assert ffmpeg.poll() is None, f"ffmpeg stopped: {_tail(logs[0])}"
