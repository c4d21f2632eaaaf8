"""Bring the catalog and the vector index up to date with folders and single photos.

New and changed files are decoded in the worker pool and embedded in batches; unchanged ones
cost one stat; moved and duplicate files keep (or copy) their vector by content hash; sidecar
edits re-read captions and tags without re-embedding; vanished files are removed; unreadable
ones are recorded with their reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photofind.library import paths
from photofind.library.catalog import PhotoRow
from photofind.library.decode import VANISHED, PreparedPhoto, sidecar_stamp
from photofind.library.metadata import read_metadata, sidecar_paths
from photofind.library.scan import FileEntry, is_photo_name, scan
from photofind.services.jobs import CancelToken, Progress
from photofind.services.roots import root_reachable
from photofind.services.state import Service

SAVE_EVERY = 2000  # photos between intermediate index saves


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

    def grouped_problems(self) -> list[tuple[str, str]]:
        """``problems`` to show a person: the files that vanished because their folder did
        (deleted, moved or unmounted while indexing) are one line for that folder, in place of
        its first file, rather than a line for each of its hundreds of photos."""
        lines: list[tuple[str, str] | str] = []
        folders: dict[str, int] = {}  # vanished folder -> how many of its files were missed
        for path, reason in self.problems:
            folder = _vanished_folder(path) if reason == VANISHED else None
            if folder is None:
                lines.append((path, reason))
                continue
            if folder not in folders:
                lines.append(folder)
            folders[folder] = folders.get(folder, 0) + 1
        return [line if isinstance(line, tuple) else
                (line, f"folder disappeared while indexing ({_photos(folders[line])} in it "
                       "not indexed)") for line in lines]


def _vanished_folder(path: str) -> str | None:
    """The topmost folder above ``path`` that no longer exists; None while its folder does."""
    folder, parent = None, os.path.dirname(path)
    while parent != os.path.dirname(parent) and not os.path.lexists(parent):
        folder, parent = parent, os.path.dirname(parent)
    return folder


def _photos(count: int) -> str:
    return "1 photo" if count == 1 else f"{count:,} photos"


@dataclass
class _Pending:
    """A decoded photo waiting for its batch to be encoded."""

    root_id: int | None
    prepared: PreparedPhoto
    is_new: bool


class Indexer(Service):
    def index(self, targets: Iterable[str | os.PathLike], progress: Progress | None = None,
              cancel: CancelToken | None = None, retry: bool = False) -> IndexReport:
        """Bring the catalog and index up to date with folders (or single photos): new and
        changed files are embedded, unchanged ones skipped, moved ones re-pointed by content
        hash, vanished ones removed, unreadable ones recorded with their reason (and, with
        ``retry``, tried again even if unchanged: a decoder installed since, a download that
        has finished)."""
        report, jobs, vanished, meta_jobs = IndexReport(), [], [], []
        for target in targets:
            self._plan(Path(target), report, jobs, vanished, meta_jobs, retry)
        report.scanned = report.unchanged + len(jobs) + len(meta_jobs)
        self._refresh_metadata(meta_jobs, report)
        if jobs:
            self._process(jobs, report, progress, cancel)
        if not report.cancelled:
            gone = [row.id for row in vanished if not os.path.lexists(row.raw_path)
                    and self.catalog.photo(row.id) and
                    self.catalog.photo(row.id).raw_path == row.raw_path]
            self.remove(gone)
            report.removed += len(gone)
        if jobs or report.removed:
            self._save_index()
            self.tokens.flush()
        if not report.cancelled:
            self.catalog.drop_other_models(self.embedder.base_key)
        return report

    def _plan(self, target: Path, report: IndexReport, jobs: list, vanished: list,
              meta_jobs: list, retry: bool = False) -> None:
        target = Path(os.path.abspath(target.expanduser()))
        if not root_reachable(self.catalog, target, report.problems):
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
                    ((row.error is not None and not retry) or row.id in embedded):
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
                self.catalog.set_meta_stamp(db, row.id, sidecar_stamp(metadata.sidecars))
                self.catalog.save_metadata(db, row.id, metadata)
            report.metadata_updated += 1

    def _save(self, db, root_id, prepared: PreparedPhoto) -> int:
        """Write one photo's file facts, metadata and texts inside transaction ``db``."""
        photo_id = self.catalog.save_photo(db, root_id, prepared.raw_path, _fields(prepared))
        if prepared.metadata is not None:
            self.catalog.save_metadata(db, photo_id, prepared.metadata)
        return photo_id

    def _process(self, jobs: list, report: IndexReport, progress: Progress | None,
                 cancel: CancelToken | None) -> None:
        embedder, key = self.embedder, self.model_key
        by_path = {entry.raw_path: (root_id, row) for root_id, entry, row in jobs}
        batch: list[_Pending] = []
        done = 0
        for prepared in self.prepared([e.raw_path for _, e, _ in jobs], embedder):
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
        twins = self.catalog.embedded_twins(prepared.content_hash, key)
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
        # the library's lock is not taken inside the catalog's: a search holds the library's
        # while it asks the catalog (the reranker's record), and the two waited on each other
        key, store = self.model_key, self.tokens if tokens is not None else None
        with self.catalog.transaction() as db:
            for pending, vector in zip(batch, vectors):
                photo_id = self._save(db, pending.root_id, pending.prepared)
                self.catalog.set_embedding(db, photo_id, key, vector)
                ids.append(photo_id)
            if store is not None:  # before the commit: a full disk here keeps the batch out
                store.put(ids, tokens[rows])
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

    def remove(self, ids: list[int]) -> None:
        """Drop photos from the catalog and the index (the caller saves the index)."""
        if ids:
            self.catalog.delete_photos(ids)
            self.vectors.remove(ids)

    def forget(self, target: str | os.PathLike) -> int:
        """Drop a folder (or photo) from the catalog and index; never touches the files."""
        target_text = paths.to_text(target)
        root = next((rid for rid, p, _, _ in self.catalog.roots() if p == target_text), None)
        if root is not None:
            removed = self.catalog.remove_root(root)
        else:
            removed = [row.id for row in self.catalog.photos_in_folder(target)]
            self.catalog.delete_photos(removed)
        if removed and self.state.model_loaded:
            self.vectors.remove(removed)
            self._save_index()
        return len(removed)

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


def _fields(prepared: PreparedPhoto) -> dict:
    return {"size": prepared.size, "mtime": prepared.mtime, "meta_stamp": prepared.meta_stamp,
            "content_hash": prepared.content_hash, "width": prepared.width,
            "height": prepared.height, "error": prepared.error}
