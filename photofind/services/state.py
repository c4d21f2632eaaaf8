"""One library's state, shared by the services: the catalog (the truth) and, loaded on first
use, the model, the HNSW index (a rebuildable cache of the catalog's vectors), the reranker's
token store and the trained reranker. Status and forget never load a model."""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from photofind.embed.spec import ModelSpec
from photofind.index.hnsw import HnswParams, VectorIndex
from photofind.library.catalog import Catalog, CatalogDamaged, backups
from photofind.library.pipeline import DecodePool
from photofind.services import artefacts, storage
from photofind.services.data_dir import resolve_data_dir
from photofind.services.storage import LibraryReadOnly
from photofind.services.writer import WriterLock

log = logging.getLogger(__name__)

ONNX_CACHE_ENV = "PHOTOFIND_ONNX_CACHE"
DECODERS_ENV = "PHOTOFIND_DECODERS"  # "threads" or "processes"; unset: by where the model runs


class LibraryState:
    def __init__(self, data_dir: str | os.PathLike | None = None, model: ModelSpec | None = None,
                 device: str | None = None, workers: int | None = None,
                 hnsw: HnswParams = HnswParams(), batch_size: int | None = None):
        self.data_dir = resolve_data_dir(data_dir)
        self.warnings: list[str] = []  # problems met on the way (damaged files), for status
        self.catalog = self._open_catalog()
        self.writer = WriterLock(self.data_dir)
        self.model_spec = model or self.saved_model_spec() or ModelSpec()
        self.device, self.hnsw, self._batch_size = device, hnsw, batch_size
        self.pool = DecodePool(workers)
        self._embedder = None
        self.brief = False  # see use_briefly
        self._index: VectorIndex | None = None
        self._tokens = self._reranker = None
        self._lock = threading.RLock()
        self.index_rebuilt = False

    @property
    def batch_size(self) -> int:
        """Photos embedded per model call: as asked, else what suits the runtime (ONNX
        Runtime on a CPU: 8, where a batch of 32 peaked at twice the memory, no faster)."""
        return self._batch_size or self.embedder.batch_hint

    def _open_catalog(self) -> Catalog:
        """The catalog, restored from its newest good backup if it is damaged."""
        path = self.data_dir / "catalog.sqlite3"
        try:
            if problem := backups.suspect_problem(path):
                raise CatalogDamaged(problem)
            return Catalog(path)
        except CatalogDamaged:
            artefacts.warn(self, backups.restore(path, self.backups_dir))
            return Catalog(path)

    @property
    def backups_dir(self) -> Path:
        return self.data_dir / "backups"

    @contextmanager
    def writing(self, what: str, cancel=None) -> Iterator[None]:
        """Hold the library for a job that changes it (see ``services.writer``). Work other
        processes saved meanwhile joins this one's index first; afterwards the catalog is
        backed up when a backup is due."""
        if self.catalog.read_only:
            raise LibraryReadOnly(storage.read_only_reason(self.catalog.read_only,
                                                           self.data_dir))
        cancelled = (lambda: cancel.cancelled) if cancel is not None else None
        with self.writer.hold(what, cancelled):
            outermost = self.writer.depth == 1
            if outermost and self._index is not None:
                with self._lock:
                    self._agree(self._index, self.model_key)
            yield
            if outermost:
                self._back_up_if_due()

    def _back_up_if_due(self) -> None:
        if not backups.due(self.backups_dir):
            return
        try:
            backups.back_up(self.catalog, self.backups_dir)
        except ValueError as error:  # the live catalog is damaged: restore at next start
            backups.mark_suspect(self.catalog.path)
            artefacts.warn(self, f"{error}; it will be restored from the newest good backup "
                                 "the next time photofind starts")
        except (OSError, sqlite3.Error) as error:  # a full disk: the job itself succeeded
            log.warning("photofind: the catalog was not backed up (%s)", error)

    @property
    def export_root(self) -> Path:
        """Where the model's ONNX graphs are cached: the data dir, unless
        $PHOTOFIND_ONNX_CACHE names a folder that several libraries share."""
        shared = os.environ.get(ONNX_CACHE_ENV)
        return Path(shared).expanduser() if shared else self.data_dir / "onnx"

    def saved_model_spec(self) -> ModelSpec | None:
        saved = self.catalog.get_meta("model_spec")
        return ModelSpec(**json.loads(saved)) if saved else None

    def weights_to_download(self):
        """What the model needs from the hub before it can load (``HubWeights``), or None.
        Asked before loading, so a window can show the download instead of waiting on it."""
        from photofind.embed.runtime import weights_to_download

        return weights_to_download(self.model_spec, self.export_root)

    def download_weights(self, where, progress=None) -> Path:
        """Fetch them into the Hugging Face cache; ``progress(done, total)`` may raise
        ``DownloadCancelled``."""
        from photofind.embed.download import download

        return download(where, progress)

    @property
    def model_loaded(self) -> bool:
        """Has anything needed the model yet? (Reports must not load it just to look.)"""
        return self._embedder is not None

    @property
    def embedder(self):
        with self._lock:
            if self._embedder is None:
                from photofind.embed.runtime import RuntimeOptions, open_embedder

                embedder = open_embedder(self.model_spec, self.device, self.export_root,
                                         RuntimeOptions(prepack=not self.brief))
                if artefacts.recorded(self, artefacts.ADAPTATION, embedder.base_key):
                    from photofind.services.adapting import load_active  # torch: learned words

                    embedder = load_active(self, embedder)
                self._embedder = embedder
                if self.saved_model_spec() != self.model_spec and not self.catalog.read_only:
                    self.catalog.set_meta("model_spec", json.dumps(asdict(self.model_spec)))
            return self._embedder

    def use_briefly(self) -> None:
        """This process answers a query and exits (the ``search`` command): ONNX Runtime
        uses the weights as stored instead of repacking them when a session opens, which
        pays off only over many batches. Cold queries over ViT-B-32-256: an image 1.15 →
        0.93 s, a text 0.67 → 0.57 s, the same memory; each later batch would run 7 %
        slower. Before the model loads."""
        self.brief = True

    def prepared(self, raw_paths: list[bytes], embedder):
        """Photos decoded for ``embedder`` in the decoder pool: in threads where the model
        runs on the CPU, in processes where an accelerator does (see ``DecodePool``)."""
        forced = os.environ.get(DECODERS_ENV, "").strip().lower()
        processes = forced == "processes" if forced in ("threads", "processes") else \
            not embedder.runs_on_cpu
        return self.pool.prepare(raw_paths, embedder.prep, processes=processes)

    @embedder.setter
    def embedder(self, embedder) -> None:
        """Switch models (adapting, resetting): the index, tokens and reranker of the new
        model key load on next use."""
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
                self._reranker = False
                path = artefacts.usable(self, artefacts.RERANK, self.model_key,
                                        "results are not re-ranked (adapt again to retrain)")
                if path is not None:
                    from photofind.search.rerank import Reranker  # numpy: no torch at query time

                    try:
                        self._reranker = Reranker.load(path)
                    except Exception as error:  # noqa: BLE001 - an old or damaged file
                        artefacts.warn(self, f"the re-ranker in {path.name} cannot be loaded "
                                             f"({error}); results are not re-ranked")
            return self._reranker or None

    @reranker.setter
    def reranker(self, reranker) -> None:
        """Rank through this reranker (None: none) until the model changes, whatever the
        catalog names: a head being tried out, not yet saved."""
        with self._lock:
            self._reranker = reranker if reranker is not None else False

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
        """The index file is trusted only as far as the catalog agrees: its model key,
        embedding version and width must match, and its photos must be the catalog's. Photos
        the file lacks (another writer's, or a hand-edited stamp) are added from their stored
        vectors and photos the catalog no longer has are dropped, so no photo is left
        unfindable; anything worse is rebuilt from the catalog (no re-encoding either way)."""
        path, key = self.index_file(), self.model_key
        try:
            index, stamp = VectorIndex.load(path, self.hnsw)
            if stamp.get("model_key") == key and index.dim == self.embedder.dim and \
                    stamp.get("version") == self.catalog.embedding_version():
                if self._agree(index, key):
                    self._save_quietly(index)
                return index
        except (OSError, ValueError, RuntimeError, KeyError, TypeError):
            pass  # missing, corrupt or unreadable: the catalog has everything to rebuild
        ids, vectors = self.catalog.embeddings(key)
        index = VectorIndex.build(ids, vectors, vectors.shape[1] if len(ids) else
                                  self.embedder.dim, self.hnsw)
        self.index_rebuilt = True
        if len(ids):
            self._save_quietly(index)
        return index

    def _agree(self, index: VectorIndex, key: str) -> bool:
        """Make ``index`` hold exactly the catalog's photos of ``key``; True if it changed."""
        stored, live = self.catalog.embedded_ids(key), index.ids
        missing, extra = stored - live, live - stored
        if missing:
            ids, vectors = self.catalog.embeddings(key, sorted(missing))
            index.add(ids, vectors)
            log.info("photofind: %d photos were missing from the search index; added",
                     len(ids))
        index.remove(sorted(extra))
        return bool(missing or extra)

    def _save_quietly(self, index: VectorIndex) -> None:
        """Save a repaired or rebuilt index; the index is a cache, so a read-only or full
        disk only means it is rebuilt again next time."""
        if self.catalog.read_only:
            return
        try:
            self.save_index(index)
        except OSError as error:
            log.debug("index not saved: %s", error)

    def save_index(self, index: VectorIndex | None = None) -> None:
        path = self.index_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        (index or self.vectors).save(path, {"model_key": self.model_key,
                                            "version": self.catalog.embedding_version()})

    def close(self) -> None:
        self.pool.close()
        self.catalog.close()


def _part(name: str) -> property:
    """``self.state.<name>``, read on every access: the model, index and reranker behind it
    are swapped when a library adapts or resets."""
    return property(lambda self: getattr(self.state, name))


class Service:
    """Base of the services working on a ``LibraryState``: its parts under short names."""

    catalog, pool, batch_size = _part("catalog"), _part("pool"), _part("batch_size")
    prepared = _part("prepared")
    data_dir = _part("data_dir")
    embedder, model_key = _part("embedder"), _part("model_key")
    vectors, tokens, reranker = _part("vectors"), _part("tokens"), _part("reranker")

    def __init__(self, state: LibraryState):
        self.state = state

    def _save_index(self) -> None:
        self.state.save_index()
