"""The one API behind the CLI and the GUI: index folders, search them, report status.

``PhotoLibrary`` owns the catalog (truth), the HNSW index (a rebuildable cache of the
catalog's vectors) and, lazily, the model: status and forget never load a model.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from photofind.config import resolve_data_dir
from photofind.embed.model import ModelSpec
from photofind.index.hnsw import HnswParams, VectorIndex
from photofind.library import paths
from photofind.library.catalog import Catalog, PhotoRow
from photofind.library.decode import PhotoError, PreparedPhoto, open_photo, to_model_array
from photofind.library.pipeline import DecodePool
from photofind.library.scan import FileEntry, is_photo_name, scan

Progress = Callable[[int, int, str], None]
SAVE_EVERY = 2000  # photos between intermediate index saves


class CancelToken:
    """Set from any thread; long operations stop at the next batch boundary."""

    def __init__(self):
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class IndexReport:
    scanned: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    moved: int = 0
    removed: int = 0
    errors: int = 0
    encoded: int = 0
    cancelled: bool = False
    problems: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.added} new", f"{self.updated} changed", f"{self.moved} moved",
                 f"{self.removed} removed", f"{self.unchanged} unchanged",
                 f"{self.errors} unreadable"]
        return ", ".join(parts) + (" (cancelled)" if self.cancelled else "")


@dataclass
class SearchResult:
    photo: PhotoRow
    score: float

    @property
    def path(self) -> str:
        return self.photo.path

    def as_dict(self) -> dict:
        row = asdict(self.photo)
        row.pop("raw_path")
        return {"path": self.path, "score": round(self.score, 6), **row}


@dataclass
class _Pending:
    """A decoded photo waiting for its batch to be encoded."""

    root_id: int | None
    prepared: PreparedPhoto
    is_new: bool


class PhotoLibrary:
    def __init__(self, data_dir: str | os.PathLike | None = None, model: ModelSpec | None = None,
                 device: str | None = None, workers: int | None = None,
                 hnsw: HnswParams = HnswParams(), batch_size: int = 32):
        self.data_dir = resolve_data_dir(data_dir)
        self.catalog = Catalog(self.data_dir / "catalog.sqlite3")
        self.model_spec = model or self.saved_model_spec() or ModelSpec()
        self.device, self.hnsw, self.batch_size = device, hnsw, batch_size
        self.pool = DecodePool(workers)
        self._embedder = None
        self._index: VectorIndex | None = None
        self._lock = threading.RLock()
        self.index_rebuilt = False

    # -- model and index ------------------------------------------------------------------
    def saved_model_spec(self) -> ModelSpec | None:
        saved = self.catalog.get_meta("model_spec")
        return ModelSpec(**json.loads(saved)) if saved else None

    @property
    def embedder(self):
        with self._lock:
            if self._embedder is None:
                from photofind.embed.encoder import Embedder  # torch import only when needed

                self._embedder = Embedder.load(self.model_spec, self.device)
                self.catalog.set_meta("model_spec", json.dumps(asdict(self.model_spec)))
            return self._embedder

    @embedder.setter
    def embedder(self, embedder) -> None:
        with self._lock:
            self._embedder, self._index = embedder, None

    @property
    def model_key(self) -> str:
        return self.embedder.key

    def index_file(self) -> Path:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.model_key).strip("-")
        return self.data_dir / "index" / f"{slug}.hnsw"

    @property
    def vectors(self) -> VectorIndex:
        """The HNSW index for the current model, loaded or rebuilt from the catalog."""
        with self._lock:
            if self._index is None:
                self._index = self._load_or_rebuild()
            return self._index

    def _load_or_rebuild(self) -> VectorIndex:
        path, key = self.index_file(), self.model_key
        try:
            index, stamp = VectorIndex.load(path, self.hnsw)
            if stamp.get("model_key") == key and \
                    stamp.get("version") == self.catalog.embedding_version():
                return index
        except (OSError, ValueError, RuntimeError, KeyError):
            pass  # missing, corrupt or unreadable: the catalog has everything to rebuild
        ids, vectors = self.catalog.embeddings(key)
        index = VectorIndex.build(ids, vectors, vectors.shape[1] if len(ids) else
                                  self.embedder.dim, self.hnsw)
        self.index_rebuilt = True
        if len(ids):
            self._save_index(index)
        return index

    def _save_index(self, index: VectorIndex | None = None) -> None:
        path = self.index_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        (index or self.vectors).save(path, {"model_key": self.model_key,
                                            "version": self.catalog.embedding_version()})

    # -- indexing -------------------------------------------------------------------------
    def index(self, targets: Iterable[str | os.PathLike], progress: Progress | None = None,
              cancel: CancelToken | None = None) -> IndexReport:
        """Bring the catalog and index up to date with folders (or single photos): new and
        changed files are embedded, unchanged ones skipped, moved ones re-pointed by content
        hash, vanished ones removed, unreadable ones recorded with their reason."""
        report, jobs, vanished = IndexReport(), [], []
        for target in targets:
            self._plan(Path(target), report, jobs, vanished)
        report.scanned = report.unchanged + len(jobs)
        if jobs:
            self._process(jobs, report, progress, cancel)
        if not report.cancelled:
            gone = [row.id for row in vanished if not os.path.lexists(row.raw_path)
                    and self.catalog.photo(row.id) and
                    self.catalog.photo(row.id).raw_path == row.raw_path]
            self._remove(gone)
            report.removed += len(gone)
        if jobs or report.removed:
            self._save_index()
        return report

    def _plan(self, target: Path, report: IndexReport, jobs: list, vanished: list) -> None:
        target = Path(os.path.abspath(target.expanduser()))
        if not self._root_reachable(target, report):
            return
        if target.is_dir():
            root_id = self.catalog.add_root(target)
            found = scan(target)
            report.problems += [(paths.to_text(os.fsdecode(p)), why) for p, why in found.problems]
            known = {row.raw_path: row for row in self.catalog.photos_in_folder(target)}
            entries = found.files
        elif target.is_file() and is_photo_name(target.name):
            root_id = self.catalog.root_for(target)
            stat = target.stat()
            entries = [FileEntry(paths.to_raw(target), stat.st_size, stat.st_mtime)]
            row = self.catalog.photo_by_path(target)
            known = {row.raw_path: row} if row else {}
        else:
            report.problems.append((str(target), "not found, or not a photo or folder"))
            return
        embedded = self.catalog.embedded_ids(self.model_key)
        for entry in entries:
            row = known.pop(entry.raw_path, None)
            if row and row.size == entry.size and row.mtime == entry.mtime and \
                    (row.error is not None or row.id in embedded):
                report.unchanged += 1
            else:
                jobs.append((root_id, entry, row))
        vanished.extend(known.values())

    def _process(self, jobs: list, report: IndexReport, progress: Progress | None,
                 cancel: CancelToken | None) -> None:
        embedder, key = self.embedder, self.model_key
        by_path = {entry.raw_path: (root_id, row) for root_id, entry, row in jobs}
        batch: list[_Pending] = []
        done = 0
        for prepared in self.pool.prepare([e.raw_path for _, e, _ in jobs], embedder.prep):
            if cancel is not None and cancel.cancelled:
                report.cancelled = True
                break
            root_id, row = by_path[prepared.raw_path]
            if prepared.error:
                self._record_error(root_id, prepared, report)
            elif not self._reuse_embedding(root_id, row, prepared, key, report):
                batch.append(_Pending(root_id, prepared, row is None))
                if len(batch) >= self.batch_size:
                    self._encode_batch(batch, report)
                    batch = []
            done += 1
            if progress:
                progress(done, len(jobs), paths.to_text(os.fsdecode(prepared.raw_path)))
            if done % SAVE_EVERY == 0:
                self._save_index()
        if batch:
            self._encode_batch(batch, report)

    def _reuse_embedding(self, root_id, row: PhotoRow | None, prepared: PreparedPhoto,
                         key: str, report: IndexReport) -> bool:
        """Touched, moved or duplicate files: same bytes, so keep or copy the vector."""
        embedded = self.catalog.embedded_ids(key) if row is None else None
        if row is not None and row.content_hash == prepared.content_hash and row.error is None \
                and row.id in self.catalog.embedded_ids(key):
            with self.catalog.transaction() as db:
                self.catalog.save_photo(db, root_id, prepared.raw_path, _fields(prepared))
            report.unchanged += 1
            return True
        if row is not None:
            return False
        twins = [r for r in self.catalog.photos("content_hash=? AND error IS NULL",
                                                (prepared.content_hash,)) if r.id in embedded]
        if not twins:
            return False
        moved_from = next((r for r in twins if not os.path.lexists(r.raw_path)), None)
        with self.catalog.transaction() as db:
            if moved_from is not None:
                self.catalog.move_photo(db, moved_from.id, prepared.raw_path, root_id,
                                        prepared.mtime)
                report.moved += 1
                return True
            photo_id = self.catalog.save_photo(db, root_id, prepared.raw_path, _fields(prepared))
            _, vectors = self.catalog.embeddings(key, [twins[0].id])
            self.catalog.set_embedding(db, photo_id, key, vectors[0])
        self.vectors.add([photo_id], vectors)
        report.added += 1
        return True

    def _encode_batch(self, batch: list[_Pending], report: IndexReport) -> None:
        firsts: dict[str, _Pending] = {}  # identical files in one batch: encode once
        for pending in batch:
            firsts.setdefault(pending.prepared.content_hash, pending)
        slot = {content_hash: i for i, content_hash in enumerate(firsts)}
        encoded = self.embedder.encode_images(
            np.stack([p.prepared.array for p in firsts.values()]))
        vectors = encoded[[slot[p.prepared.content_hash] for p in batch]]
        ids = []
        with self.catalog.transaction() as db:
            for pending, vector in zip(batch, vectors):
                photo_id = self.catalog.save_photo(db, pending.root_id, pending.prepared.raw_path,
                                                   _fields(pending.prepared))
                self.catalog.set_embedding(db, photo_id, self.model_key, vector)
                ids.append(photo_id)
        self.vectors.add(ids, vectors)
        report.encoded += len(firsts)
        for pending in batch:
            if pending.is_new:
                report.added += 1
            else:
                report.updated += 1

    def _record_error(self, root_id, prepared: PreparedPhoto, report: IndexReport) -> None:
        with self.catalog.transaction() as db:
            photo_id = self.catalog.save_photo(db, root_id, prepared.raw_path, _fields(prepared))
            self.catalog.drop_embedding(db, photo_id)
        self.vectors.remove([photo_id])
        report.errors += 1
        report.problems.append((paths.to_text(os.fsdecode(prepared.raw_path)), prepared.error))

    def _remove(self, ids: list[int]) -> None:
        if ids:
            self.catalog.delete_photos(ids)
            self.vectors.remove(ids)

    def forget(self, target: str | os.PathLike) -> int:
        """Drop a folder (or photo) from the catalog and index; never touches the files."""
        target_text = paths.to_text(target)
        root = next((rid for rid, p, _, _ in self.catalog.roots() if p == target_text), None)
        if root is not None:
            ids = [row.id for row in self.catalog.photos("root_id=?", (root,))]
            self.catalog.remove_root(root)
            removed = ids
        else:
            removed = [row.id for row in self.catalog.photos_in_folder(target)]
            self.catalog.delete_photos(removed)
        if removed and self._embedder is not None:
            self.vectors.remove(removed)
            self._save_index()
        return len(removed)

    # -- live library: moves, deletions and offline roots (used by library/watch.py) -----
    def move_paths(self, pairs: Iterable[tuple[str | os.PathLike, str | os.PathLike]]) -> int:
        """Re-point photos after a file or folder was moved or renamed, keeping their ids and
        vectors. A watcher knows both paths, so nothing is decoded or hashed; sources the
        catalog does not know are skipped (``index`` still finds those by content hash).
        Returns the number of photos moved."""
        moved, replaced = 0, []
        with self.catalog.transaction() as db:
            for src, dest in pairs:
                src_raw, dest_raw = paths.to_raw(src), paths.to_raw(dest)
                for row in self.catalog.photos_in_folder(src):  # the file, or all inside
                    new_raw = dest_raw + row.raw_path[len(src_raw):]
                    new_path = paths.from_raw(new_raw)
                    old = self.catalog.photo_by_path(new_path)
                    if old is not None and old.id != row.id:
                        replaced.append(old.id)  # moved over another photo
                    self.catalog.move_photo(db, row.id, new_raw, self.catalog.root_for(new_path),
                                            row.mtime)
                    moved += 1
        if replaced:
            self.vectors.remove(replaced)
            self._save_index()
        return moved

    def remove_paths(self, targets: Iterable[str | os.PathLike]) -> int:
        """Drop photos whose file (or folder) is gone. Paths that exist again are kept, and so
        is everything on a root whose folder is missing: a missing drive deletes nothing.
        Returns the number of photos removed."""
        ids: set[int] = set()
        roots = {rid: path for rid, path, _, _ in self.catalog.roots()}
        root_present = functools.cache(self.root_present)
        for target in targets:
            root = roots.get(self.catalog.root_for(target))
            if os.path.lexists(target) or (root is not None and not root_present(root)):
                continue
            ids.update(row.id for row in self.catalog.photos_in_folder(target))
        if ids:
            self._remove(sorted(ids))
            self._save_index()
        return len(ids)

    def reconcile(self, progress: Progress | None = None,
                  cancel: CancelToken | None = None) -> IndexReport:
        """Catch up with everything that changed while nobody watched: re-index every root
        (unchanged files cost one stat), marking missing roots offline and returning ones
        online."""
        roots = [paths.from_raw(raw) for _, _, raw, _ in self.catalog.roots()]
        return self.index(roots, progress, cancel)

    def root_present(self, root: str | os.PathLike) -> bool:
        """Is a root's folder there? Missing, unreadable, or empty while the catalog still
        lists photos in it (the bare mount point of an unmounted drive or share) is absent."""
        try:
            with os.scandir(root) as entries:
                if next(entries, None) is not None:
                    return True
        except OSError:
            return False
        like = paths.folder_like_pattern(paths.to_text(root))
        return not self.catalog.photos("path LIKE ? ESCAPE '\\' LIMIT 1", (like,))

    def _root_reachable(self, target: Path, report: IndexReport) -> bool:
        """For a known root: mark it offline (keeping its photos) when its folder is absent,
        online when present. Other targets pass."""
        text = paths.to_text(target)
        root = next(((rid, online) for rid, p, _, online in self.catalog.roots() if p == text),
                    None)
        if root is None:
            return True
        present = self.root_present(target)
        if present != root[1]:
            self.catalog.set_root_online(root[0], present)
        if not present:
            report.problems.append((text, "offline: folder missing or empty; its photos are "
                                          "kept and come back when it returns"))
        return present

    def _search_online(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Photos of offline roots stay in the catalog but are not served (k is capped to
        what may be served: the index retries smaller k while too few labels pass)."""
        hidden = self.catalog.offline_photo_ids()
        if not hidden:
            return self.vectors.search(query, k)
        k = min(k, len(self.vectors.ids - hidden))
        return self.vectors.search(query, k, lambda photo_id: photo_id not in hidden)

    # -- searching ------------------------------------------------------------------------
    def search(self, text: str | None = None, image: str | os.PathLike | None = None,
               k: int = 20, min_score: float | None = None) -> list[SearchResult]:
        """Text or image query → top-k photos by cosine similarity, best first."""
        if not self.catalog.counts()["photos"]:
            raise ValueError("The library is empty: index a folder first (photofind index DIR).")
        if image is not None:
            query = self.image_vector(image)
        elif text and text.strip():
            query = self.embedder.encode_texts([text.strip()])[0]
        else:
            raise ValueError("Give a text query or an image.")
        hits = self._search_online(query, k)
        return self._results(hits, min_score)

    def image_vector(self, image: str | os.PathLike) -> np.ndarray:
        """An indexed photo's stored vector, or a fresh encoding of any image file."""
        row = self.catalog.photo_by_path(image)
        if row is not None and row.id in self.vectors.ids:
            return self.vectors.vector(row.id)
        try:
            picture = open_photo(Path(image), draft_size=self.embedder.prep.size)
        except PhotoError as exc:
            raise ValueError(f"Cannot use {image} as a query: {exc}") from exc
        return self.embedder.encode_images(to_model_array(picture, self.embedder.prep)[None])[0]

    def _results(self, hits: list[tuple[int, float]], min_score: float | None
                 ) -> list[SearchResult]:
        results = []
        for photo_id, score in hits:
            if min_score is not None and score < min_score:
                continue
            row = self.catalog.photo(photo_id)
            if row is not None:
                results.append(SearchResult(row, score))
        return results

    # -- reporting ------------------------------------------------------------------------
    def status(self) -> dict:
        counts = self.catalog.counts()
        index_file = None
        if self._embedder is not None:
            index_file = self.index_file()
        return {
            "data_dir": str(self.data_dir),
            "model": self.model_spec.describe(),
            "model_key": self._embedder.key if self._embedder else None,
            **counts,
            "roots": [{"path": p, "online": online,
                       "photos": len(self.catalog.photos("root_id=? AND error IS NULL", (rid,)))}
                      for rid, p, _, online in self.catalog.roots()],
            "embeddings": self.catalog.model_keys(),
            "catalog_bytes": _size(self.catalog.path),
            "index_bytes": _size(index_file) if index_file else None,
            "errors_list": self.catalog.errors(),
        }

    def close(self) -> None:
        self.pool.close()
        self.catalog.close()


def _fields(prepared: PreparedPhoto) -> dict:
    return {"size": prepared.size, "mtime": prepared.mtime,
            "content_hash": prepared.content_hash, "width": prepared.width,
            "height": prepared.height, "error": prepared.error}


def _size(path: Path | None) -> int:
    total = 0
    for candidate in [path, Path(f"{path}-wal")] if path else []:
        if candidate.exists():
            total += candidate.stat().st_size
    return total
