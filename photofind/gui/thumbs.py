"""Thumbnails: a disk cache under the data dir, filled in the background.

Files are keyed by content hash (``thumbs/<size>/ab/<hash>.jpg``), so a moved or renamed
photo keeps its thumbnail and an edited one gets a new one. Decoding reuses the indexer's
``open_photo`` (EXIF orientation, HEIC, CMYK, bomb guard) with JPEG draft scaling, in pool
threads; the UI thread only turns finished ``QImage``s into pixmaps.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap

from photofind.gui.tasks import run_task
from photofind.library.catalog import PhotoRow

THUMB_SIZE = 256
PREVIEW_SIZE = 1024


class ThumbCache:
    """Disk cache of downscaled JPEGs; safe to call from several threads."""

    def __init__(self, data_dir: Path):
        self.folder = Path(data_dir) / "thumbs"

    def path_for(self, content_hash: str, size: int) -> Path:
        return self.folder / str(size) / content_hash[:2] / f"{content_hash}.jpg"

    def ensure(self, row: PhotoRow, size: int) -> Path:
        """The cached JPEG for ``row`` at ``size`` px, made now if missing."""
        from photofind.library.decode import open_photo

        key = row.content_hash or hashlib.blake2b(row.raw_path, digest_size=16).hexdigest()
        target = self.path_for(key, size)
        if target.exists():
            return target
        image = open_photo(row.file, draft_size=size)
        image.thumbnail((size, size))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.{id(image)}.tmp")
        image.save(partial, "JPEG", quality=85)
        os.replace(partial, target)  # atomic: readers never see half a file
        return target

    def load(self, row: PhotoRow, size: int) -> QImage:
        image = QImage(str(self.ensure(row, size)))
        if image.isNull():
            raise OSError(f"unreadable thumbnail for {row.path}")
        return image


class ThumbnailLoader(QObject):
    """Pixmaps by content hash: cached in memory (LRU), loaded lazily in a thread pool.

    ``pixmap()`` never blocks: it returns None and starts a load; ``ready(key)`` follows.
    Newer requests get higher priority, so the rows a person scrolled to come first.
    """

    ready = Signal(str)

    def __init__(self, cache: ThumbCache, parent: QObject | None = None, size: int = THUMB_SIZE,
                 capacity: int = 1500):
        super().__init__(parent)
        self.cache, self.size, self.capacity = cache, size, capacity
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max(1, min(4, (os.cpu_count() or 2) - 1)))
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._pending: set[str] = set()
        self.failed: set[str] = set()
        self._serial = 0

    @staticmethod
    def key(row: PhotoRow) -> str:
        return row.content_hash or row.path

    def pixmap(self, row: PhotoRow) -> QPixmap | None:
        key = self.key(row)
        if key in self._pixmaps:
            self._pixmaps.move_to_end(key)
            return self._pixmaps[key]
        if key not in self._pending and key not in self.failed:
            self._pending.add(key)
            self._serial += 1
            run_task(self.pool, self, lambda: self.cache.load(row, self.size),
                     lambda image: self._loaded(key, image),
                     lambda _exc: self._broken(key), priority=self._serial)
        return None

    def _loaded(self, key: str, image: QImage) -> None:
        self._pending.discard(key)
        self._pixmaps[key] = QPixmap.fromImage(image)
        while len(self._pixmaps) > self.capacity:
            self._pixmaps.popitem(last=False)
        self.ready.emit(key)

    def _broken(self, key: str) -> None:
        self._pending.discard(key)
        self.failed.add(key)
        self.ready.emit(key)

    def shutdown(self) -> None:
        self.pool.clear()
        self.pool.waitForDone(2000)
