"""Helpers for the notes tests: images made with Pillow, notes written through the real
multipart API, outbox events and media files."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import func, select

from core.events import OutboxEvent

API = "/api/v1/notes"


def image_bytes(width: int = 1200, height: int = 900, colour: tuple[int, int, int] = (200, 60, 90), fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, fmt)
    return out.getvalue()


def files(images: list[bytes] | int = 1, **named: bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    """Multipart file parts: `images` in order (a count makes that many small JPEGs),
    plus named single files (video=..., poster=...)."""
    if isinstance(images, int):
        images = [image_bytes(64 + i, 48, (i * 13 % 255, 90, 120)) for i in range(images)]
    parts = [("images", (f"photo-{i}.jpg", data, "image/jpeg")) for i, data in enumerate(images)]
    parts += [(name, (f"{name}.bin", data, "application/octet-stream")) for name, data in named.items()]
    return parts


async def post_note(client: Any, auth: dict[str, str], note: dict[str, Any], images: list[bytes] | int = 1, **named: bytes) -> Any:
    return await client.post(API, data={"note": json.dumps(note)}, files=files(images, **named), headers=auth)


async def create_note(client: Any, auth: dict[str, str], images: list[bytes] | int = 1, **note: Any) -> dict[str, Any]:
    note.setdefault("title", "通勤妆")
    r = await post_note(client, auth, note, images)
    assert r.status_code == 201, r.text
    return r.json()


async def events(runtime: Any, type_: str) -> list[dict[str, Any]]:
    async with runtime.db.read_session() as session:
        return list((await session.execute(select(OutboxEvent.payload).where(OutboxEvent.type == type_).order_by(OutboxEvent.id))).scalars())


async def count(runtime: Any, model: Any, *where: Any) -> int:
    async with runtime.db.read_session() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


def media_files(settings: Any, user_id: int) -> list[Path]:
    folder = Path(settings.media_dir) / "notes" / str(user_id)
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def mp4_bytes() -> bytes:
    """The start of an MP4 file: a `ftyp` box (isom) and an empty `mdat`."""
    ftyp = (24).to_bytes(4, "big") + b"ftypisom" + (0x200).to_bytes(4, "big") + b"isomiso2"
    return ftyp + (8).to_bytes(4, "big") + b"mdat"
