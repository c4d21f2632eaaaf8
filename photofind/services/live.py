"""What a watcher saw, applied to the library: moves and renames (ids and vectors kept),
deletions (never for a root whose folder is missing) and the catch-up after a time unwatched."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable

from photofind.library import paths
from photofind.services.indexing import Indexer, IndexReport
from photofind.services.jobs import CancelToken, Progress
from photofind.services.roots import root_present
from photofind.services.state import LibraryState, Service


class LiveUpdates(Service):
    def __init__(self, state: LibraryState, indexer: Indexer):
        super().__init__(state)
        self.indexer = indexer

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
        present = functools.cache(functools.partial(root_present, self.catalog))
        for target in targets:
            root = roots.get(self.catalog.root_for(target))
            if os.path.lexists(target) or (root is not None and not present(root)):
                continue
            ids.update(row.id for row in self.catalog.photos_in_folder(target))
        if ids:
            self.indexer.remove(sorted(ids))
            self._save_index()
        return len(ids)

    def reconcile(self, progress: Progress | None = None,
                  cancel: CancelToken | None = None) -> IndexReport:
        """Catch up with everything that changed while nobody watched: re-index every root
        (unchanged files cost one stat), marking missing roots offline and returning ones
        online."""
        roots = [paths.from_raw(raw) for _, _, raw, _ in self.catalog.roots()]
        return self.indexer.index(roots, progress, cancel)
