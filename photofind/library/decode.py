"""Turn a photo file into a model-ready array, or a human-readable reason why not.

Runs in worker processes (see ``photofind.library.pipeline``), so it imports only Pillow and
numpy: no torch, no Qt. Preprocessing mirrors open_clip's eval transform (resize by shortest
side with bicubic, centre crop, normalise) but on PIL + numpy so workers stay light.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from photofind.library.metadata import PhotoMetadata, read_metadata

try:  # HEIC/HEIF/AVIF support is optional at import time but pinned in pyproject.
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover
    pillow_heif = None

# The memory budget of one decode, in decoded pixels (3 bytes each in RGB: ~750 MB). Above any
# camera, below what a decompression bomb (a few bytes claiming gigapixels) asks for.
DEFAULT_MAX_PIXELS = 250_000_000
MAX_FILE_BYTES = 512 * 1024 * 1024
VANISHED = "file disappeared before it could be read"  # a reason services/ groups by folder
_DRAFTS = ("JPEG", "MPO")  # formats libjpeg can decode at 1/2..1/8 scale (MPO: camera JPEGs)
_RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class PrepSpec:
    """What the model wants: mirrors open_clip's ``preprocess_cfg``."""

    size: int = 224
    mean: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
    std: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)
    resize_mode: str = "shortest"
    interpolation: str = "bicubic"
    fill_color: int = 0
    max_pixels: int = DEFAULT_MAX_PIXELS

    @classmethod
    def from_open_clip(cls, cfg: dict, max_pixels: int = DEFAULT_MAX_PIXELS) -> PrepSpec:
        size = cfg.get("size", 224)
        if isinstance(size, (tuple, list)):
            size = int(size[0])
        return cls(
            size=int(size),
            mean=tuple(float(v) for v in cfg.get("mean", cls.mean)),
            std=tuple(float(v) for v in cfg.get("std", cls.std)),
            resize_mode=cfg.get("resize_mode", "shortest"),
            interpolation=cfg.get("interpolation", "bicubic"),
            fill_color=int(cfg.get("fill_color", 0)),
            max_pixels=max_pixels,
        )


@dataclass
class PreparedPhoto:
    """Result of decoding one file; ``array`` is None when ``error`` says why."""

    raw_path: bytes
    size: int = 0
    mtime: float = 0.0
    content_hash: str | None = None
    width: int | None = None
    height: int | None = None
    array: np.ndarray | None = None
    error: str | None = None
    metadata: PhotoMetadata | None = None
    meta_stamp: str = ""


class PhotoError(Exception):
    """A photo that cannot be used, with a reason a person can read."""


def open_photo(data: bytes | str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS,
               draft_size: int | None = None) -> Image.Image:
    """Open, decode and upright a photo as 8-bit RGB. Raises PhotoError with a clear reason.

    ``draft_size`` lets JPEG decode at 1/2..1/8 scale (libjpeg DCT scaling): a 24-MP photo
    needs no full decode to become a 224-px model input, and a 240-MP panorama decodes to
    under 4 MP. ``max_pixels`` is the budget for what is really decoded (after that
    scaling), so huge photos are read and only what would not fit in memory is refused.
    """
    if isinstance(data, bytes) and not data:
        raise PhotoError("empty file (0 bytes)")
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        with pillow_guard_off():
            image = Image.open(source)
            full_size = image.size
            if draft_size and image.format in _DRAFTS:
                image.draft("RGB", (draft_size, draft_size))
            # libjpeg holds all of a progressive JPEG's coefficients (~3 bytes a pixel) until
            # its last scan, whatever the scale: there the full size is what must fit
            progressive = image.format in _DRAFTS and image.info.get("progressive")
            check_budget(full_size if progressive else image.size, max_pixels)
            image.load()
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)  # animated GIF/WebP, multi-page TIFF: first frame
            ImageOps.exif_transpose(image, in_place=True)  # not in place, it copies even upright
            return to_rgb(image)
    except Image.DecompressionBombError as exc:  # Pillow's guard, if switched on meanwhile
        raise PhotoError(f"too large to decode within the memory budget: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise PhotoError("not a supported image format, or the file is corrupt") from exc
    except OSError as exc:
        text = str(exc)
        if "truncated" in text:
            raise PhotoError("truncated file (incomplete download or copy?)") from exc
        raise PhotoError(f"corrupt or unreadable image: {text}") from exc
    except (ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError,
            ZeroDivisionError, MemoryError) as exc:
        raise PhotoError(f"corrupt image data: {type(exc).__name__}: {exc}") from exc


def check_budget(size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Refuse a decode of ``size`` that does not fit the budget, saying by how much."""
    width, height = size
    if width * height > max_pixels:
        raise PhotoError(f"too large to decode within the memory budget: {width}×{height} = "
                         f"{_megapixels(width * height)} pixels "
                         f"(limit {_megapixels(max_pixels)})")


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:,.1f}".removesuffix(".0") + " M"


_GUARD = threading.Lock()
_guard_users = 0
_guard_saved: int | None = None


@contextmanager
def pillow_guard_off() -> Iterator[None]:
    """Pillow's decompression-bomb guard off while photofind decodes, which budgets by itself
    (``check_budget``): Pillow's guard counts a JPEG's full size at ``Image.open``, before
    draft mode can shrink it, and so would refuse a 144-MP photo that decodes to 2 MP; and its
    limit is not the budget. The setting is process-wide: decoding threads (the app's
    thumbnails) share one switch, turned back on when the last of them is done."""
    global _guard_users, _guard_saved
    with _GUARD:
        if _guard_users == 0:
            _guard_saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        _guard_users += 1
    try:
        yield
    finally:
        with _GUARD:
            _guard_users -= 1
            if _guard_users == 0:
                Image.MAX_IMAGE_PIXELS = _guard_saved


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB for any mode: CMYK, 16-bit/float greyscale, palette and alpha (on white)."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        high = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        grey = np.clip(values / high * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def to_model_array(image: Image.Image, spec: PrepSpec) -> np.ndarray:
    """CHW float32, normalised, the same geometry as open_clip's eval transform."""
    size, resample = spec.size, _RESAMPLE.get(spec.interpolation, Image.Resampling.BICUBIC)
    width, height = image.size
    if spec.resize_mode == "squash":
        image = image.resize((size, size), resample)
    elif spec.resize_mode == "longest":
        scale = size / max(width, height)
        new = (max(1, round(width * scale)), max(1, round(height * scale)))
        canvas = Image.new("RGB", (size, size), (spec.fill_color,) * 3)
        canvas.paste(image.resize(new, resample), ((size - new[0]) // 2, (size - new[1]) // 2))
        image = canvas
    else:  # "shortest": resize shortest side, then centre crop (torchvision semantics)
        scale = size / min(width, height)
        new = (max(size, int(width * scale)), max(size, int(height * scale)))
        if new != (width, height):
            image = image.resize(new, resample)
        left = int(round((new[0] - size) / 2.0))
        top = int(round((new[1] - size) / 2.0))
        image = image.crop((left, top, left + size, top + size))
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = (array - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def prepare_photo(raw_path: bytes, spec: PrepSpec) -> PreparedPhoto:
    """Read, hash and decode one file (worker-process entry point). Never raises."""
    result = PreparedPhoto(raw_path=raw_path)
    try:
        stat = os.stat(raw_path)
        result.size, result.mtime = stat.st_size, stat.st_mtime
        if stat.st_size > MAX_FILE_BYTES:
            raise PhotoError(f"file too large ({stat.st_size // 2**20} MiB)")
        with open(raw_path, "rb") as handle:
            data = handle.read()
        result.content_hash = hashlib.blake2b(data, digest_size=16).hexdigest()
        image = open_photo(data, spec.max_pixels, draft_size=spec.size)
        result.array = to_model_array(image, spec)
        del image  # before metadata, which may decode a PNG again for its late text chunks
        with pillow_guard_off(), Image.open(io.BytesIO(data)) as header:  # no decode
            result.width, result.height = _original_size(header)
            result.metadata = read_metadata(Path(os.fsdecode(raw_path)), header)
        result.meta_stamp = sidecar_stamp(result.metadata.sidecars)
    except PhotoError as exc:
        result.error = str(exc)
    except PermissionError:
        result.error = "permission denied"
    except FileNotFoundError:
        result.error = VANISHED
    except OSError as exc:
        result.error = f"could not read file: {exc.strerror or exc}"
    return result


def sidecar_stamp(sidecars: list[str]) -> str:
    """Names and mtimes of a photo's sidecars: when this changes, metadata is read again."""
    parts = []
    for sidecar in sidecars:
        try:
            parts.append(f"{os.path.basename(sidecar)}:{os.stat(sidecar).st_mtime_ns}")
        except OSError:
            continue
    return ";".join(parts)


def _original_size(header: Image.Image) -> tuple[int, int]:
    """Full-resolution upright size (the decoded one may be a JPEG draft)."""
    width, height = header.size
    try:
        orientation = header.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block: the size is informative only
        orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
