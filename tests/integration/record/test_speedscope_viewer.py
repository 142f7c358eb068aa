"""Our speedscope files open in the real speedscope viewer (headless Chromium).

Needs Debian's ``chromium`` and the npm package ``speedscope`` (its built viewer is in
``dist/release``): found through $MEMSPY_SPEEDSCOPE_DIR or ``npm root -g``.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from memspy.collectors import create
from memspy.model import Frame, ProfileInfo, Sample, ThreadStack, TraceEvent

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def viewer_dir() -> Path | None:
    candidates = []
    if os.environ.get("MEMSPY_SPEEDSCOPE_DIR"):
        candidates.append(Path(os.environ["MEMSPY_SPEEDSCOPE_DIR"]))
    if shutil.which("npm"):
        root = subprocess.run(["npm", "root", "-g"], capture_output=True, text=True, timeout=60)
        candidates.append(Path(root.stdout.strip()) / "speedscope" / "dist" / "release")
    return next((c for c in candidates if (c / "index.html").is_file()), None)


VIEWER = viewer_dir()
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
    ),
    pytest.mark.skipif(
        VIEWER is None, reason="speedscope viewer not found (npm install -g speedscope)"
    ),
]

INFO = ProfileInfo(pid=42, command="viewer-test", rate_hz=100.0)
MAIN, WORK = Frame("main_loop", "app.py", 10), Frame("crunch_numbers", "app.py", 3)


def sampled_profile() -> bytes:
    collector = create("speedscope", INFO)
    for i in range(50):
        frames = (WORK, MAIN) if i >= 20 else (MAIN,)
        collector.collect(
            Sample(i * 0.01, 42, (ThreadStack(1, 101, "MainThread", True, False, frames),))
        )
    stream = io.BytesIO()
    collector.export(stream)
    return stream.getvalue()


def evented_profile() -> bytes:
    collector = create("speedscope", INFO)
    for time, kind, frame in [(0.0, "enter", MAIN), (0.1, "enter", WORK), (0.3, "leave", WORK)]:
        collector.collect_event(TraceEvent(time, 42, 7, kind, frame, thread_name="MainThread"))
    stream = io.BytesIO()
    collector.export(stream)
    return stream.getvalue()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the request log out of test output."""


def open_in_viewer(tmp_path: Path, profile: bytes) -> str:
    """The viewer's DOM after it loaded ``profile`` from a local server."""
    for item in VIEWER.iterdir():
        (tmp_path / item.name).symlink_to(item)
    (tmp_path / "memspy.speedscope.json").write_bytes(profile)
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        url = f"{base}/index.html#profileURL={base}/memspy.speedscope.json"
        result = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--virtual-time-budget=5000",
                "--window-size=1200,600",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.shutdown()
        server.server_close()
    return result.stdout


def test_sampled_profile_renders(tmp_path: Path) -> None:
    dom = open_in_viewer(tmp_path, sampled_profile())
    assert "<title>memspy pid 42 viewer-test - speedscope</title>" in dom
    assert "MainThread (101)" in dom  # the thread selector shows our profile
    assert "Something went wrong" not in dom and "Failed to" not in dom


def test_evented_profile_renders(tmp_path: Path) -> None:
    dom = open_in_viewer(tmp_path, evented_profile())
    assert "<title>memspy pid 42 viewer-test - speedscope</title>" in dom
    assert "MainThread (0x7)" in dom
