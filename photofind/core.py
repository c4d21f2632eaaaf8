"""The one API behind the CLI and the GUI: index folders, search them, report status.

``PhotoLibrary`` owns the catalog (truth), the HNSW index (a rebuildable cache of the
catalog's vectors) and, lazily, the model: status and forget never load a model.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from photofind.config import resolve_data_dir
from photofind.embed.spec import ModelSpec
from photofind.index.hnsw import HnswParams, VectorIndex
from photofind.library import paths
from photofind.library.catalog import Catalog, PhotoRow
from photofind.library.decode import (
    PhotoError,
    PreparedPhoto,
    open_photo,
    sidecar_stamp,
    to_model_array,
)
from photofind.library.metadata import read_metadata, sidecar_paths
from photofind.library.pipeline import DecodePool
from photofind.library.scan import FileEntry, is_photo_name, scan
from photofind.search.filters import SearchFilters
from photofind.search.hybrid import DEFAULT_TOP_K, fts_query, fuse
from photofind.search.hybrid import rerank as rerank_hits

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
SAVE_EVERY = 2000  # photos between intermediate index saves
ONNX_CACHE_ENV = "PHOTOFIND_ONNX_CACHE"


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
    metadata_updated: int = 0
    cancelled: bool = False
    problems: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.added} new", f"{self.updated} changed", f"{self.moved} moved",
                 f"{self.metadata_updated} with new captions/tags",
                 f"{self.removed} removed", f"{self.unchanged} unchanged",
                 f"{self.errors} unreadable"]
        return ", ".join(parts) + (" (cancelled)" if self.cancelled else "")


@dataclass
class SearchResult:
    photo: PhotoRow
    score: float | None  # cosine similarity; None when listing by filters alone
    text_match: bool = False  # a caption or tag matched the query words
    rerank_score: float | None = None  # what reranking added to the cosine, when it ran

    @property
    def path(self) -> str:
        return self.photo.path

    def as_dict(self) -> dict:
        row = asdict(self.photo)
        row.pop("raw_path")
        score = None if self.score is None else round(self.score, 6)
        return {"path": self.path, "score": score, "text_match": self.text_match,
                "rerank_score": self.rerank_score, **row}


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
        self._tokens = self._reranker = None
        self._lock = threading.RLock()
        self.index_rebuilt = False

    # -- model and index ------------------------------------------------------------------
    @property
    def export_root(self) -> Path:
        """Where the model's ONNX graphs are cached: the data dir, unless
        $PHOTOFIND_ONNX_CACHE names a folder that several libraries share."""
        shared = os.environ.get(ONNX_CACHE_ENV)
        return Path(shared).expanduser() if shared else self.data_dir / "onnx"

    def saved_model_spec(self) -> ModelSpec | None:
        saved = self.catalog.get_meta("model_spec")
        return ModelSpec(**json.loads(saved)) if saved else None

    @property
    def embedder(self):
        with self._lock:
            if self._embedder is None:
                from photofind.embed.runtime import open_embedder

                embedder = open_embedder(self.model_spec, self.device, self.export_root)
                if self.catalog.get_meta(f"adaptation:{embedder.base_key}"):
                    from photofind.adapt.library import load_active  # torch: learned words

                    embedder = load_active(self, embedder)
                self._embedder = embedder
                if self.saved_model_spec() != self.model_spec:
                    self.catalog.set_meta("model_spec", json.dumps(asdict(self.model_spec)))
            return self._embedder

    @embedder.setter
    def embedder(self, embedder) -> None:
        with self._lock:
            self._embedder, self._index = embedder, None
            self._tokens = self._reranker = None

    @property
    def tokens(self):
        """The reranker's token store for the current model (None: tower unsupported)."""
        from photofind.index.tokens import TokenStore

        with self._lock:
            if self._tokens is None:
                self._tokens = TokenStore(self.data_dir / "tokens", self.embedder.token_key,
                                          self.embedder.dim)
            return self._tokens

    @property
    def reranker(self):
        """The trained cross-encoder of the current model, or None."""
        with self._lock:
            if self._reranker is None:
                path = self.catalog.get_meta(f"rerank:{self.model_key}")
                self._reranker = False
                if path and Path(path).exists():
                    from photofind.search.rerank import Reranker  # torch, only when trained

                    try:
                        self._reranker = Reranker.load(Path(path))
                    except (ValueError, KeyError, RuntimeError) as error:  # old or damaged
                        log.warning("Reranker not used: %s", error)
            return self._reranker or None

    @property
    def model_key(self) -> str:
        return self.embedder.key

    def index_file(self, model_key: str | None = None) -> Path:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", model_key or self.model_key).strip("-")
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
        report, jobs, vanished, meta_jobs = IndexReport(), [], [], []
        for target in targets:
            self._plan(Path(target), report, jobs, vanished, meta_jobs)
        report.scanned = report.unchanged + len(jobs) + len(meta_jobs)
        self._refresh_metadata(meta_jobs, report)
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
            self.tokens.flush()
        if not report.cancelled:
            self.catalog.drop_other_models(self.embedder.base_key)
        return report

    def _plan(self, target: Path, report: IndexReport, jobs: list, vanished: list,
              meta_jobs: list) -> None:
        target = Path(os.path.abspath(target.expanduser()))
        if not self._root_reachable(target, report):
            return
        if target.is_dir():
            root_id = self.catalog.add_root(target)
            found = scan(target)
            report.problems += [(paths.to_text(os.fsdecode(p)), why) for p, why in found.problems]
            known = {row.raw_path: row for row in self.catalog.photos_in_folder(target)}
            entries, sidecar_folders = found.files, found.sidecar_folders
        elif target.is_file() and is_photo_name(target.name):
            root_id = self.catalog.root_for(target)
            stat = target.stat()
            entries = [FileEntry(paths.to_raw(target), stat.st_size, stat.st_mtime)]
            row = self.catalog.photo_by_path(target)
            known = {row.raw_path: row} if row else {}
            sidecar_folders = {os.fsencode(str(target.parent))}
        else:
            report.problems.append((str(target), "not found, or not a photo or folder"))
            return
        embedded = self.catalog.embedded_ids(self.model_key)
        for entry in entries:
            row = known.pop(entry.raw_path, None)
            if row and row.size == entry.size and row.mtime == entry.mtime and \
                    (row.error is not None or row.id in embedded):
                stamp = "" if os.path.dirname(entry.raw_path) not in sidecar_folders else \
                    sidecar_stamp([str(p) for p in sidecar_paths(paths.from_raw(entry.raw_path))])
                if row.error is None and stamp != row.meta_stamp:
                    meta_jobs.append(row)
                else:
                    report.unchanged += 1
            else:
                jobs.append((root_id, entry, row))
        vanished.extend(known.values())

    def _refresh_metadata(self, rows: list[PhotoRow], report: IndexReport) -> None:
        """Sidecar edits: captions, tags and dates re-read, the embedding kept."""
        for row in rows:
            metadata = read_metadata(row.file)
            with self.catalog.transaction() as db:
                db.execute("UPDATE photos SET meta_stamp=? WHERE id=?",
                           (sidecar_stamp(metadata.sidecars), row.id))
                self._save_metadata(db, row.id, metadata)
            report.metadata_updated += 1

    def _save(self, db, root_id, prepared: PreparedPhoto) -> int:
        """Write one photo's file facts, metadata and texts inside transaction ``db``."""
        photo_id = self.catalog.save_photo(db, root_id, prepared.raw_path, _fields(prepared))
        if prepared.metadata is not None:
            self._save_metadata(db, photo_id, prepared.metadata)
        return photo_id

    def _save_metadata(self, db, photo_id: int, metadata) -> None:
        lat, lon = metadata.gps or (None, None)
        db.execute("UPDATE photos SET taken_at=?, taken_at_source=?, camera_make=?, "
                   "camera_model=?, gps_lat=?, gps_lon=? WHERE id=?",
                   (metadata.taken_at, metadata.taken_at_source, metadata.camera_make,
                    metadata.camera_model, lat, lon, photo_id))
        self.catalog.set_texts(db, photo_id, metadata.texts)

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
        if row is not None and row.content_hash == prepared.content_hash and row.error is None \
                and self.catalog.has_embedding(row.id, key):
            with self.catalog.transaction() as db:
                self._save(db, root_id, prepared)
            report.unchanged += 1
            return True
        if row is not None:
            return False
        twins = self.catalog.photos(
            "content_hash=? AND error IS NULL AND EXISTS (SELECT 1 FROM embeddings e WHERE "
            "e.photo_id = photos.id AND e.model_key = ?)", (prepared.content_hash, key))
        if not twins:
            return False
        moved_from = next((r for r in twins if not os.path.lexists(r.raw_path)), None)
        with self.catalog.transaction() as db:
            if moved_from is not None:
                self.catalog.move_photo(db, moved_from.id, prepared.raw_path, root_id,
                                        prepared.mtime)
                self._save(db, root_id, prepared)
                report.moved += 1
                return True
            photo_id = self._save(db, root_id, prepared)
            _, vectors = self.catalog.embeddings(key, [twins[0].id])
            self.catalog.set_embedding(db, photo_id, key, vectors[0])
        self.vectors.add([photo_id], vectors)
        twin_tokens, valid = self.tokens.get([twins[0].id])
        if valid[0]:
            self.tokens.put([photo_id], twin_tokens)
        report.added += 1
        return True

    def _encode_batch(self, batch: list[_Pending], report: IndexReport) -> None:
        firsts: dict[str, _Pending] = {}  # identical files in one batch: encode once
        for pending in batch:
            firsts.setdefault(pending.prepared.content_hash, pending)
        slot = {content_hash: i for i, content_hash in enumerate(firsts)}
        encoded, tokens = self.embedder.encode_images(
            np.stack([p.prepared.array for p in firsts.values()]), with_tokens=True)
        rows = [slot[p.prepared.content_hash] for p in batch]
        vectors = encoded[rows]
        ids = []
        with self.catalog.transaction() as db:
            for pending, vector in zip(batch, vectors):
                photo_id = self._save(db, pending.root_id, pending.prepared)
                self.catalog.set_embedding(db, photo_id, self.model_key, vector)
                ids.append(photo_id)
        self.vectors.add(ids, vectors)
        if tokens is not None:
            self.tokens.put(ids, tokens[rows])
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

    # -- searching ------------------------------------------------------------------------
    def search(self, text: str | None = None, image: str | os.PathLike | None = None,
               k: int = 20, min_score: float | None = None,
               filters: SearchFilters | None = None, hybrid: bool = True,
               rerank: bool = True) -> list[SearchResult]:
        """Text or image query → top-k photos, best first. Text queries also match captions
        and tags (fused by rank) unless ``hybrid`` is off; a trained reranker re-scores the
        top 50 unless ``rerank`` is off; filters narrow any query, and with no query list
        the matching photos newest first."""
        filters = filters or SearchFilters()
        allowed = self._allowed_ids(filters)
        has_text = bool(text and text.strip())
        if image is None and not has_text:
            if not filters.active():
                raise ValueError("Give a text query, an image, or a filter.")
            return self._browse(allowed, k)
        if not self.catalog.counts()["photos"]:
            raise ValueError("The library is empty: index a folder first (photofind index DIR).")
        if allowed is not None and not allowed:
            return []  # the filters leave nothing: no model, no rerank of zero candidates
        reranker = self.reranker if rerank and image is None else None
        if reranker is not None and reranker.active:
            vectors, text_tokens, text_mask = self.embedder.text_tokens([text.strip()])
            query = vectors[0]
        else:
            reranker = None
            query = self.image_vector(image) if image is not None else \
                self.embedder.encode_texts([text.strip()])[0]
        use_text = hybrid and has_text and image is None
        pool = max(k, 100) if use_text else k
        if reranker is not None:
            pool = max(pool, DEFAULT_TOP_K)
        hits = self.vectors.search(query, pool, allowed.__contains__ if allowed is not None
                                   else None)
        cosine, cross = dict(hits), {}
        if reranker is not None and hits:
            top = hits[:DEFAULT_TOP_K]
            reordered = rerank_hits(top, reranker.bonus(
                text_tokens, text_mask, query, [pid for pid, _ in top],
                lambda ids: self.tokens.get(ids)[0], self.vectors.vectors))
            cross = {pid: c for pid, _, c in reordered}
            hits = [(pid, cos) for pid, cos, _ in reordered] + hits[DEFAULT_TOP_K:]
        order, matched = [pid for pid, _ in hits], set()
        fts = fts_query(text) if use_text else None
        if fts:
            live = self.vectors.ids  # a copy of the id set: once, not per match
            text_ids = [pid for pid, _ in self.catalog.text_matches(fts, pool)
                        if (allowed is None or pid in allowed) and pid in live]
            matched = set(text_ids)
            for pid in matched - cosine.keys():
                cosine[pid] = float(self.vectors.vector(pid) @ query)
            order = fuse(order, text_ids)
        results = []
        for photo_id in order:
            if min_score is not None and cosine[photo_id] < min_score and \
                    photo_id not in matched:
                continue
            row = self.catalog.photo(photo_id)
            if row is not None:
                results.append(SearchResult(row, cosine[photo_id], photo_id in matched,
                                            cross.get(photo_id)))
            if len(results) == k:
                break
        return results

    def _allowed_ids(self, filters: SearchFilters) -> set[int] | None:
        """Photo ids a search may return, or None for "all" (the fast path)."""
        offline = [rid for rid, _, _, online in self.catalog.roots() if not online]
        if not filters.active() and not offline:
            return None
        where, args = filters.where()
        if offline:
            where += f" AND COALESCE(photos.root_id, -1) NOT IN ({','.join('?' * len(offline))})"
            args += offline
        return {row.id for row in self.catalog.photos(where, args)}

    def _browse(self, allowed: set[int] | None, k: int) -> list[SearchResult]:
        rows = [self.catalog.photo(pid) for pid in (allowed or ())]
        rows = sorted((r for r in rows if r), key=lambda r: (r.taken_at or "", r.path),
                      reverse=True)
        return [SearchResult(row, None) for row in rows[:k]]

    def photo_details(self, photo: int | str | os.PathLike) -> dict | None:
        """Everything known about one photo: file facts, metadata, texts with sources."""
        row = self.catalog.photo(photo) if isinstance(photo, int) else \
            self.catalog.photo_by_path(photo)
        if row is None:
            return None
        details = asdict(row)
        details.pop("raw_path")
        details["texts"] = self.catalog.texts(row.id)
        embedded = self.catalog.photos("id=? AND id IN (SELECT photo_id FROM embeddings)",
                                       (row.id,))
        details["index_status"] = "unreadable: " + row.error if row.error else \
            ("indexed" if embedded else "waiting to be indexed")
        details["sidecars"] = [str(p) for p in sidecar_paths(row.file)]
        return details

    def import_captions(self, csv_path: str | os.PathLike) -> tuple[int, list[str]]:
        """Add captions/tags from a path,caption,tags CSV; returns (photos updated, unknown
        paths). Imported texts survive metadata re-reads."""
        from photofind.library.metadata import CSV_SOURCE, TextItem, read_captions_csv

        updated, unknown = 0, []
        table = read_captions_csv(Path(csv_path))
        with self.catalog.transaction() as db:
            for path, (captions, tags) in table.items():
                row = self.catalog.photo_by_path(path)
                if row is None:
                    unknown.append(path)
                    continue
                items = [TextItem("caption", c, CSV_SOURCE, str(csv_path)) for c in captions]
                items += [TextItem("tag", t, CSV_SOURCE, str(csv_path)) for t in tags]
                self.catalog.add_texts(db, row.id, items)
                updated += 1
        return updated, unknown

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
    return {"size": prepared.size, "mtime": prepared.mtime, "meta_stamp": prepared.meta_stamp,
            "content_hash": prepared.content_hash, "width": prepared.width,
            "height": prepared.height, "error": prepared.error}


def _size(path: Path | None) -> int:
    total = 0
    for candidate in [path, Path(f"{path}-wal")] if path else []:
        if candidate.exists():
            total += candidate.stat().st_size
    return total
