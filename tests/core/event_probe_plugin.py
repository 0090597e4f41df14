"""A test plugin whose event handler leaves evidence in a file (one line per effect).

The file is named by ZHONGCAO_TEST_EFFECTS; the effect is idempotent per event id,
as every handle_event implementation must be, and each call is logged separately.
"""

from __future__ import annotations

import os
from pathlib import Path

from core import hookimpl

__version__ = "0.0.1"
FAIL_ONCE: set[str] = set()


def _paths() -> tuple[Path, Path]:
    base = Path(os.environ["ZHONGCAO_TEST_EFFECTS"])
    return base, base.with_suffix(".calls")


@hookimpl
def register_event_types() -> dict[str, str]:
    return {"probe.happened": "a test event"}


@hookimpl
def handle_event(event, runtime) -> None:  # noqa: ANN001
    effects, calls = _paths()
    with calls.open("a") as f:
        f.write(f"{event.id}\n")
    if event.payload.get("fail_once") and event.id not in FAIL_ONCE:
        FAIL_ONCE.add(event.id)
        raise RuntimeError("transient failure")
    done = set(effects.read_text().split()) if effects.exists() else set()
    if event.id not in done:
        with effects.open("a") as f:
            f.write(f"{event.id}\n")
