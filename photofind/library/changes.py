"""Turn a stream of file-system events into settled batches of catalog work.

Editors save through a temp file and a rename, cameras and sync tools write hundreds of files
at once, copies arrive half-written. So events are only collected here; the watcher takes a
``Batch`` once the folders have been quiet for ``debounce`` seconds (or every ``max_wait``
seconds during an endless stream), and a file joins a batch only when its size, mtime and
inode are unchanged across two looks at least ``debounce / 2`` apart.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent

from photofind.library.metadata import sidecar_paths
from photofind.library.scan import is_photo_name

SIDECAR_EXTENSIONS = frozenset({".xmp", ".json", ".txt"})
PHOTO, SIDECAR, FOLDER = "photo", "sidecar", "folder"
# "attrib": sync tools and copy2 set the mtime after the last write
TOUCHING = frozenset({"created", "modified", "closed", "attrib"})

Sample = tuple[int, int, int] | None  # (size, mtime_ns, inode) of a file, None if missing


def visible(path: str, root: str) -> bool:
    """Inside ``root`` and not hidden: what the scanner would index (sync tools, rsync and
    most editors write their temp files hidden or under a non-photo extension)."""
    relative = os.path.relpath(path, root)
    return not relative.startswith(os.pardir) and \
        not any(part.startswith(".") for part in relative.split(os.sep))


def classify(path: str, root: str, is_dir: bool = False) -> str | None:
    """PHOTO, SIDECAR, FOLDER or None: anything else is not the library's business."""
    if not visible(path, root):
        return None
    if is_dir:
        return FOLDER
    if is_photo_name(path):
        return PHOTO
    return SIDECAR if os.path.splitext(path)[1].lower() in SIDECAR_EXTENSIONS else None


def sidecar_owners(sidecars: Iterable[str]) -> set[str]:
    """The photos that changed sidecars describe: ``a.jpg.xmp`` → ``a.jpg``; ``a.xmp`` and
    ``a.txt`` → ``a.<any photo extension>``; Google Takeout's shortened or renumbered JSON
    names → the photo whose sidecar list names it (the metadata reader's own rules)."""
    listings: dict[str, list[str]] = {}
    owners: set[str] = set()
    for sidecar in sidecars:
        folder, name = os.path.split(sidecar)
        base = os.path.splitext(name)[0]
        if is_photo_name(base):
            owners.add(os.path.join(folder, base))
            continue
        if folder not in listings:
            try:
                listings[folder] = [n for n in os.listdir(folder) if is_photo_name(n)]
            except OSError:
                listings[folder] = []
        found = [n for n in listings[folder] if os.path.splitext(n)[0] == base]
        if not found and name.lower().endswith(".json"):
            prefix = base.split(".")[0].split("(")[0]
            found = [n for n in listings[folder] if n.startswith(prefix) and
                     Path(sidecar) in sidecar_paths(Path(folder, n))]
        owners.update(os.path.join(folder, n) for n in found)
    return owners


@dataclass
class Batch:
    """One indexing pass worth of work, applied in this order: moves, files, deletions."""

    moves: list[tuple[str, str]] = field(default_factory=list)  # (src, dest), files or folders
    files: set[str] = field(default_factory=set)  # photos to (re-)index, sidecar owners included
    deleted: set[str] = field(default_factory=set)  # files or folders that may be gone
    rescan: set[str] = field(default_factory=set)  # roots to re-index in full

    def __bool__(self) -> bool:
        return bool(self.moves or self.files or self.deleted or self.rescan)


@dataclass
class _Touched:
    kind: str
    sample: Sample
    sampled_at: float


class ChangeSet:
    """Thread-safe: observer threads ``record`` events, the watcher's thread ``take``s."""

    def __init__(self, debounce: float, max_wait: float, clock=time.monotonic):
        self.debounce, self.max_wait, self.clock = debounce, max_wait, clock
        self._lock = threading.Lock()
        self._touched: dict[str, _Touched] = {}
        self._pending = Batch()
        self._first: float | None = None  # first event of the pending period
        self._last = 0.0  # latest event

    # -- recording (observer threads) ------------------------------------------------------
    def record(self, event: FileSystemEvent, root: str) -> bool:
        """Note one event under ``root``; True if it starts a new pending period."""
        src = os.fsdecode(event.src_path)
        with self._lock:
            started = self._first is None
            if event.event_type == "moved":
                self._moved(src, os.fsdecode(event.dest_path), event.is_directory, root)
            elif event.event_type == "deleted":
                self._gone(src, classify(src, root, event.is_directory))
            elif event.event_type in TOUCHING and not event.is_directory:
                self._touch(src, classify(src, root))
            else:
                return False
            return started and self._first is not None

    def rescan(self, root: str) -> None:
        """Re-index a whole root (it came back, or events were lost)."""
        with self._lock:
            if root not in self._pending.rescan:  # asking again must not postpone it
                self._pending.rescan.add(root)
                self._mark()

    def _moved(self, src: str, dest: str, is_dir: bool, root: str) -> None:
        src_kind, dest_kind = classify(src, root, is_dir), classify(dest, root, is_dir)
        if src_kind == dest_kind and src_kind in (PHOTO, FOLDER):
            self._pending.moves.append((src, dest))
            self._mark()
        elif src_kind is not None:
            self._gone(src, src_kind)  # moved out of sight: trash, backup name, hidden folder
        if not is_dir:  # a folder's content arrives as events of its own
            self._touch(dest, dest_kind)  # e.g. a temp file renamed over a photo

    def _gone(self, path: str, kind: str | None) -> None:
        if kind == SIDECAR:
            self._touch(path, kind)  # the photo's metadata must be read again
        elif kind in (PHOTO, FOLDER):
            self._pending.deleted.add(path)
            self._mark()

    def _touch(self, path: str, kind: str | None) -> None:
        if kind is not None:
            self._touched[path] = _Touched(kind, _sample(path), self.clock())
            self._mark()

    def _mark(self) -> None:
        self._last = self.clock()
        if self._first is None:
            self._first = self._last

    # -- taking (the watcher's thread) -----------------------------------------------------
    def due_in(self) -> float | None:
        """Seconds until ``take`` has work (≤ 0: now), None when nothing is pending."""
        with self._lock:
            if self._first is None:
                return None
            return min(self._last + self.debounce, self._first + self.max_wait) - self.clock()

    def take(self) -> Batch:
        """The settled part of what is pending once due; unsettled files wait for another look."""
        due = self.due_in()
        if due is None or due > 0:
            return Batch()
        with self._lock:
            batch, self._pending = self._pending, Batch()
            sidecars, now = set(), self.clock()
            for path, touched in list(self._touched.items()):
                current = _sample(path)
                if current != touched.sample or (
                        current is not None and now - touched.sampled_at < self.debounce / 2):
                    touched.sample, touched.sampled_at = current, now
                    continue  # still being written: look again after another quiet period
                del self._touched[path]
                if touched.kind == SIDECAR:
                    sidecars.add(path)
                elif current is None:
                    batch.deleted.add(path)
                else:
                    batch.files.add(path)
            self._first = now if self._touched else None
            self._last = now
        batch.files |= sidecar_owners(sidecars)
        return batch

    def __len__(self) -> int:
        with self._lock:
            return len(self._touched) + len(self._pending.moves) + len(self._pending.deleted) \
                + len(self._pending.rescan)


def _sample(path: str) -> Sample:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns, info.st_ino
