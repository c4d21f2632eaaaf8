"""``PhotoLibrary``: the one object the CLI, the GUI, the tests and the benchmarks hold.

It is the library's shared state (``LibraryState``: catalog, model, index, …) with the
services' operations on it under one roof; the work itself is done in ``indexing``, ``live``,
``searching``, ``reading`` and ``reports``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from photofind.embed.spec import ModelSpec
from photofind.index.hnsw import HnswParams
from photofind.search.filters import SearchFilters
from photofind.services import editing, reports
from photofind.services.indexing import Indexer, IndexReport
from photofind.services.jobs import CancelToken, Progress
from photofind.services.live import LiveUpdates
from photofind.services.reading import ReadReport, TextPass
from photofind.services.roots import root_present
from photofind.services.searching import SearchEngine, SearchResult
from photofind.services.state import LibraryState


class PhotoLibrary(LibraryState):
    def __init__(self, data_dir: str | os.PathLike | None = None, model: ModelSpec | None = None,
                 device: str | None = None, workers: int | None = None,
                 hnsw: HnswParams = HnswParams(), batch_size: int | None = None):
        super().__init__(data_dir, model, device, workers, hnsw, batch_size)
        self.indexer = Indexer(self)
        self.live = LiveUpdates(self, self.indexer)
        self.engine = SearchEngine(self)
        self.text_pass = TextPass(self)

    # -- indexing ---------------------------------------------------------------------------
    def index(self, targets: Iterable[str | os.PathLike], progress: Progress | None = None,
              cancel: CancelToken | None = None, retry: bool = False) -> IndexReport:
        with self.writing("indexing", cancel):
            return self.indexer.index(targets, progress, cancel, retry)

    def forget(self, target: str | os.PathLike) -> int:
        with self.writing("forgetting a folder"):
            return self.indexer.forget(target)

    def import_captions(self, csv_path: str | os.PathLike) -> tuple[int, list[str]]:
        with self.writing("importing captions"):
            return self.indexer.import_captions(csv_path)

    def read_texts(self, progress: Progress | None = None, cancel: CancelToken | None = None,
                   limit: int | None = None) -> ReadReport:
        """Read the text in photos embedded but not read yet (services/reading.py). Holds no
        writer lock: it writes only its own catalog rows, a batch per transaction, so it
        never keeps another process's indexing waiting."""
        return self.text_pass.read_texts(progress, cancel, limit)

    def edit_texts(self, photo_ids: Iterable[int], edit: editing.TextEdit,
                   sidecars: bool = False) -> editing.EditReport:
        """The person's own caption and tags on each photo (services/editing.py). Like the
        text pass it changes only texts rows, one transaction a photo, so it needs no writer
        lock and never waits for an indexing run."""
        return editing.edit_texts(self, list(photo_ids), edit, sidecars)

    def editable_texts(self, photo_ids: Iterable[int],
                       sidecars: bool = False) -> editing.EditableTexts:
        return editing.editable_texts(self, list(photo_ids), sidecars)

    # -- live library (used by services/watch.py) ---------------------------------------------
    def move_paths(self, pairs: Iterable[tuple[str | os.PathLike, str | os.PathLike]]) -> int:
        with self.writing("following moved files"):
            return self.live.move_paths(pairs)

    def remove_paths(self, targets: Iterable[str | os.PathLike]) -> int:
        with self.writing("removing deleted files"):
            return self.live.remove_paths(targets)

    def reconcile(self, progress: Progress | None = None,
                  cancel: CancelToken | None = None) -> IndexReport:
        with self.writing("catching up with the folders", cancel):
            return self.live.reconcile(progress, cancel)

    def root_present(self, root: str | os.PathLike) -> bool:
        return root_present(self.catalog, root)

    # -- searching --------------------------------------------------------------------------
    def search(self, text: str | None = None, image: str | os.PathLike | None = None,
               k: int = 20, min_score: float | None = None,
               filters: SearchFilters | None = None, hybrid: bool = True,
               rerank: bool = True, order: str | None = None) -> list[SearchResult]:
        return self.engine.search(text, image, k, min_score, filters, hybrid, rerank, order)

    def browse(self, folder: str | None, limit: int,
               order: str | None = None) -> list[SearchResult]:
        return self.engine.browse(folder, limit, order)

    def image_vector(self, image: str | os.PathLike) -> np.ndarray:
        return self.engine.image_vector(image)

    # -- reporting --------------------------------------------------------------------------
    def status(self) -> dict:
        return reports.status(self)

    def photo_details(self, photo: int | str | os.PathLike) -> dict | None:
        return reports.photo_details(self, photo)
