"""Uploaded images (and videos): checked by decoding, stored under the media folder with
resized copies. Products use it, and so do plugins (note images, avatars), through
`store_image`: one way to accept a picture.

An upload must decode as JPEG, PNG or WebP with Pillow (only those decoders are tried,
so no other format's parser ever sees the bytes), be at most 10 MB and 40 megapixels.
The stored original is re-encoded in its own format with the EXIF orientation applied and
the metadata (GPS position, camera serial numbers) dropped; the colour profile is kept.
Resized copies are WebP, 320 and 960 px wide (never wider than the original).

Files live at `<media_dir>/<folder>/<uuid>.<ext>` and `<uuid>-<width>.webp` (products:
folder `products/<product_id>`); `media_router(settings)` serves that folder at `/media`.
A video is checked by its container signature (MP4/QuickTime `ftyp`, WebM/Matroska)
and stored as sent (`store_video`).
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import struct
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select

from core.catalog.models import Product, ProductMedia
from core.catalog.service import _clean_text, get_owned_product, product_changed
from core.db import valid_id
from core.errors import DomainError, NotFound, ValidationFailed

if TYPE_CHECKING:
    from litestar import Router
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor
    from core.settings import Settings

log = logging.getLogger("zhongcao.media")

MEDIA_URL_PREFIX = "/media"
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
RESIZE_WIDTHS = (320, 960)
MAX_MEDIA_PER_PRODUCT = 30
# Pillow format -> (file extension, content type)
FORMATS: dict[str, tuple[str, str]] = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"), "WEBP": ("webp", "image/webp")}


class PayloadTooLarge(DomainError):
    status_code = 413
    title = "Request body too large"
    type_slug = "body-too-large"


@dataclass(slots=True)
class PreparedImage:
    """An accepted upload, encoded and ready to write: the original and its resized copies."""

    ext: str
    content_type: str
    width: int
    height: int
    original: bytes
    sizes: dict[str, tuple[bytes, int, int]] = field(default_factory=dict)  # name -> (webp bytes, width, height)


def _not_an_image() -> ValidationFailed:
    return ValidationFailed("the file must be a JPEG, PNG or WebP image")


def _decode(data: bytes) -> tuple[str, Image.Image]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as probe:
                fmt = probe.format or ""
                width, height = probe.size
                if fmt not in FORMATS:
                    raise _not_an_image()
                if width < 1 or height < 1 or width * height > MAX_PIXELS:
                    raise ValidationFailed(f"images may have at most {MAX_PIXELS // 1_000_000} megapixels")
                probe.verify()
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                img.load()  # decodes every byte of the (first) frame: truncated files fail here
                upright = ImageOps.exif_transpose(img)  # a copy, without the orientation tag
        except DomainError:
            raise
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _not_an_image() from exc
        except (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError, struct.error) as exc:
            # Pillow's decoders raise any of these on malformed input
            raise _not_an_image() from exc
    return fmt, upright


def _encode(img: Image.Image, fmt: str, icc: bytes | None) -> bytes:
    out = io.BytesIO()
    extra: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if fmt == "JPEG":
        if img.mode not in ("RGB", "L", "CMYK"):
            img = img.convert("RGB")
        img.save(out, "JPEG", quality=92, optimize=True, **extra)
    elif fmt == "PNG":
        if img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
            img = img.convert("RGBA")
        img.save(out, "PNG", **extra)
    else:
        img.save(out, "WEBP", quality=90, method=4, **extra)
    return out.getvalue()


def _for_webp(img: Image.Image) -> Image.Image:
    if img.mode in ("RGB", "RGBA"):
        return img
    has_alpha = "A" in img.getbands() or "transparency" in img.info
    return img.convert("RGBA" if has_alpha else "RGB")


def prepare_image(data: bytes) -> PreparedImage:
    """Check an upload and produce every file to store. Synchronous and CPU-bound: call it
    through `asyncio.to_thread`. Raises PayloadTooLarge (413) or ValidationFailed (422)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"images may be at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    if not data:
        raise ValidationFailed("the file is empty")
    fmt, img = _decode(data)
    icc = img.info.get("icc_profile")
    ext, content_type = FORMATS[fmt]
    width, height = img.size
    try:
        prepared = PreparedImage(ext=ext, content_type=content_type, width=width, height=height, original=_encode(img, fmt, icc))
        webp_source = _for_webp(img)
        for target in RESIZE_WIDTHS:
            w = min(target, width)
            h = max(1, round(height * w / width))
            copy = webp_source if (w, h) == webp_source.size else webp_source.resize((w, h), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            copy.save(out, "WEBP", quality=82, method=4, **({"icc_profile": icc} if icc else {}))
            prepared.sizes[str(target)] = (out.getvalue(), w, h)
    except (OSError, ValueError) as exc:  # an odd mode Pillow cannot write
        raise _not_an_image() from exc
    return prepared


def media_url(path: str) -> str:
    return f"{MEDIA_URL_PREFIX}/{path}"


@dataclass(frozen=True, slots=True)
class StoredImage:
    """An accepted image, written under the media folder: paths are relative to it."""

    path: str
    content_type: str
    width: int
    height: int
    sizes: dict[str, dict[str, Any]]  # width name -> {"path", "width", "height"}

    @property
    def files(self) -> list[str]:
        return [self.path, *(s["path"] for s in self.sizes.values())]


def write_image(media_dir: Path, folder: str, prepared: PreparedImage) -> StoredImage:
    """Write a prepared image and its resized copies under `folder`, with a fresh random
    name (never reused, so answers may be cached forever). Synchronous file I/O."""
    key = uuid.uuid4().hex
    folder = folder.strip("/")
    files = {f"{folder}/{key}.{prepared.ext}": prepared.original}
    sizes: dict[str, Any] = {}
    for name, (data, w, h) in prepared.sizes.items():
        rel = f"{folder}/{key}-{name}.webp"
        files[rel] = data
        sizes[name] = {"path": rel, "width": w, "height": h}
    _write_files(media_dir, files)
    return StoredImage(path=f"{folder}/{key}.{prepared.ext}", content_type=prepared.content_type, width=prepared.width, height=prepared.height, sizes=sizes)


async def store_image(media_dir: Path, folder: str, data: bytes) -> StoredImage:
    """Check an uploaded image by decoding it, resize it to the standard widths and write
    it under `folder` (off the event loop). Raises PayloadTooLarge (413) or
    ValidationFailed (422) and writes nothing then. Call it before opening a database
    transaction; if that transaction fails, `remove_files(media_dir, stored.files)`."""
    prepared = await asyncio.to_thread(prepare_image, data)
    return await asyncio.to_thread(write_image, media_dir, folder, prepared)


async def remove_files(media_dir: Path, rels: list[str]) -> None:
    """Remove stored files (relative paths); a missing file is fine."""
    if rels:
        await asyncio.to_thread(_remove_files, media_dir, list(rels))


# ---------------------------------------------------------------- video

MAX_VIDEO_BYTES = 100 * 1024 * 1024
# ISO base media (MP4, QuickTime, 3GP): a `ftyp` box first, its major brand says which
_QUICKTIME_BRANDS = (b"qt  ",)


def sniff_video(data: bytes) -> tuple[str, str]:
    """(file extension, content type) of an MP4, QuickTime or WebM upload, judged by its
    bytes, not its name. Raises PayloadTooLarge (413) or ValidationFailed (422)."""
    if len(data) > MAX_VIDEO_BYTES:
        raise PayloadTooLarge(f"videos may be at most {MAX_VIDEO_BYTES // (1024 * 1024)} MB")
    if len(data) >= 12 and data[4:8] == b"ftyp":
        box = int.from_bytes(data[0:4], "big")
        if 8 <= box <= 256 and data[8:12].isascii():
            return ("mov", "video/quicktime") if data[8:12] in _QUICKTIME_BRANDS else ("mp4", "video/mp4")
    if data[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM / Matroska
        return "webm", "video/webm"
    raise ValidationFailed("the video must be an MP4, QuickTime (.mov) or WebM file")


@dataclass(frozen=True, slots=True)
class StoredFile:
    path: str
    content_type: str
    size: int


async def store_video(media_dir: Path, folder: str, data: bytes) -> StoredFile:
    """Check a video by its container signature and write it as sent under `folder`."""
    ext, content_type = sniff_video(data)
    rel = f"{folder.strip('/')}/{uuid.uuid4().hex}.{ext}"
    await asyncio.to_thread(_write_files, media_dir, {rel: data})
    return StoredFile(path=rel, content_type=content_type, size=len(data))


def _media_files(media: ProductMedia) -> list[str]:
    return [media.path, *(s["path"] for s in (media.sizes or {}).values() if isinstance(s, dict) and "path" in s)]


def _safe_path(media_dir: Path, rel: str) -> Path:
    root = media_dir.resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"media path {rel!r} escapes the media folder")
    return path


def _write_files(media_dir: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = _safe_path(media_dir, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)


def _remove_files(media_dir: Path, rels: list[str]) -> None:
    for rel in rels:
        try:
            _safe_path(media_dir, rel).unlink(missing_ok=True)
        except (OSError, ValueError):
            log.warning("could not remove media file %s", rel, exc_info=True)


async def add_product_media(
    session: AsyncSession, settings: Settings, actor: Actor | None, product_id: int, prepared: PreparedImage, *, alt: str = ""
) -> ProductMedia:
    """Attach a prepared image to a product of the actor's brand: writes the files, adds
    the row. If the caller's transaction later fails, call `remove_media_files`."""
    product: Product = await get_owned_product(session, actor, product_id, for_update=True)
    alt = _clean_text(alt, "alt", 200, allow_empty=True)
    count, last = (
        await session.execute(select(func.count(ProductMedia.id), func.max(ProductMedia.position)).where(ProductMedia.product_id == product.id))
    ).one()
    if count >= MAX_MEDIA_PER_PRODUCT:
        raise ValidationFailed(f"a product has at most {MAX_MEDIA_PER_PRODUCT} images")
    stored = await asyncio.to_thread(write_image, settings.media_dir, f"products/{product.id}", prepared)
    media = ProductMedia(
        product_id=product.id,
        path=stored.path,
        content_type=stored.content_type,
        width=stored.width,
        height=stored.height,
        sizes=dict(stored.sizes),
        alt=alt,
        position=0 if last is None else last + 1,
    )
    try:
        session.add(media)
        await session.flush()
    except BaseException:
        await remove_files(settings.media_dir, stored.files)
        raise
    product_changed(session, product.id)
    return media


async def get_owned_media(session: AsyncSession, actor: Actor | None, media_id: int) -> ProductMedia:
    media = await session.get(ProductMedia, media_id) if valid_id(media_id) else None
    if media is None:
        raise NotFound(f"no media {media_id}")
    try:
        await get_owned_product(session, actor, media.product_id)
    except NotFound:
        raise NotFound(f"no media {media_id}") from None
    return media


async def delete_product_media(session: AsyncSession, actor: Actor | None, media_id: int) -> ProductMedia:
    """Remove the row; the caller removes the files (`remove_media_files`) once committed."""
    media = await get_owned_media(session, actor, media_id)
    await session.delete(media)
    await session.flush()
    product_changed(session, media.product_id)
    return media


async def remove_media_files(settings: Settings, media: ProductMedia) -> None:
    await asyncio.to_thread(_remove_files, settings.media_dir, _media_files(media))


def media_router(settings: Settings) -> Router:
    """Static files under the media folder at `/media`. Names are random and never reused,
    so answers may be cached for a year."""
    from litestar.datastructures import CacheControlHeader
    from litestar.static_files import create_static_files_router

    settings.media_dir.mkdir(parents=True, exist_ok=True)

    async def nosniff(response: Any) -> Any:
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return create_static_files_router(
        path=MEDIA_URL_PREFIX,
        directories=[settings.media_dir],
        name="media",
        include_in_schema=False,
        cache_control=CacheControlHeader(public=True, max_age=31_536_000, immutable=True),
        after_request=nosniff,
    )
