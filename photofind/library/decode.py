"""Turn a photo file into a model-ready array, or a human-readable reason why not.

Runs in worker processes (see ``photofind.library.pipeline``), so it imports only Pillow and
numpy: no torch, no Qt. Preprocessing mirrors open_clip's eval transform (resize by shortest
side with bicubic, centre crop, normalise) but on PIL + numpy so workers stay light.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
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

DEFAULT_MAX_PIXELS = 250_000_000  # well above any camera; refuses decompression bombs
MAX_FILE_BYTES = 512 * 1024 * 1024
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
    needs no full decode to become a 224-px model input.
    """
    if isinstance(data, bytes) and not data:
        raise PhotoError("empty file (0 bytes)")
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels // 2  # Pillow errors at twice this limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)
            if draft_size and image.format == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            image.load()
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)  # animated GIF/WebP, multi-page TIFF: first frame
            upright = ImageOps.exif_transpose(image)
            return to_rgb(upright if upright is not None else image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoError(f"too large to decode safely (decompression bomb guard: {exc})") from exc
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
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit


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
        result.width, result.height = _original_size(data, image)
        result.array = to_model_array(image, spec)
        result.metadata = read_metadata(Path(os.fsdecode(raw_path)))
        result.meta_stamp = sidecar_stamp(result.metadata.sidecars)
    except PhotoError as exc:
        result.error = str(exc)
    except PermissionError:
        result.error = "permission denied"
    except FileNotFoundError:
        result.error = "file disappeared before it could be read"
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


def _original_size(data: bytes, decoded: Image.Image) -> tuple[int, int]:
    """Full-resolution upright size (the decoded one may be a JPEG draft)."""
    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
            orientation = header.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - size is informative only
        return decoded.size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
