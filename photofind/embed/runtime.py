"""Inference through ONNX Runtime: the frozen towers without torch.

``open_embedder`` is what the library calls. When the data dir's export cache already
describes the model (``photofind.embed.onnx_files``), it returns an ``OrtEmbedder`` without
importing torch or open_clip: a cold text query then loads the tokenizer, the memory-mapped
token table and the text graph, and nothing else. Otherwise it loads the model with torch,
exports and checks the graphs once (``photofind.embed.export``), and falls back to the torch
``Embedder`` with one log line if that fails.

The torch model is still loaded on demand (``OrtEmbedder.loaded``) for what needs it:
training, adaptations with learned words, and rebuilding a graph found damaged.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photofind.embed.keys import EmbedderKeys
from photofind.embed.onnx_files import ExportCache, source_facts
from photofind.embed.quantize import int8_is_fast, ready_int8
from photofind.embed.spec import ModelSpec, ModelUnavailable
from photofind.library import heap
from photofind.library.decode import PrepSpec

log = logging.getLogger(__name__)

RUNTIME_ENV = "PHOTOFIND_RUNTIME"  # "torch" turns ONNX Runtime off
CPU_BATCH = 8
_ACCELERATORS = {"cuda": ["CUDAExecutionProvider"], "mps": ["CoreMLExecutionProvider"],
                 "auto": ["CUDAExecutionProvider", "CoreMLExecutionProvider",
                          "DmlExecutionProvider"]}


def open_embedder(spec: ModelSpec, device: str | None, cache_root: Path,
                  options: RuntimeOptions | None = None):
    """The fastest embedder that gives the model's own vectors (see the module doc);
    ``options`` for ONNX Runtime's sessions."""
    if os.environ.get(RUNTIME_ENV, "").lower() == "torch" or not _providers(device):
        heap.pool_big_blocks()  # torch computes the embeddings: see photofind.library.heap
        return _torch_embedder(spec, device)
    cache = ExportCache(cache_root, spec)
    cache.key = cache.known_key()
    manifest = cache.read() if cache.key else None
    if manifest is not None:
        return OrtEmbedder(cache, manifest, device, options=options)
    with heap.pooled_big_blocks():  # torch loads, exports and checks the graphs
        torch_embedder = _torch_embedder(spec, device)
        loaded = torch_embedder.loaded
        cache.key = loaded.key
        try:
            manifest = cache.read() or export_base(cache, loaded)
        except Exception as exc:  # noqa: BLE001 - any failure here means: keep using torch
            log.warning("ONNX Runtime not used for %s (%s); using torch.", spec.describe(),
                        exc)
            heap.pool_big_blocks()
            return torch_embedder
    sources = [source_facts(loaded.weights_path)]
    if spec.config:
        sources.append(source_facts(spec.config))
    cache.remember(loaded.key, sources)
    return OrtEmbedder(cache, manifest, device, loaded=loaded, options=options)


def weights_to_download(spec: ModelSpec, cache_root: Path):
    """The hub weights ``open_embedder`` would have to download first (a
    ``download.HubWeights``), or None: a model exported before needs none, and neither does
    a local file or weights already in the Hugging Face cache. Imports open_clip (and torch)
    only when no export is known."""
    cache = ExportCache(cache_root, spec)
    cache.key = cache.known_key()
    if cache.key and cache.read() is not None:
        return None
    from photofind.embed.download import needs_download

    return needs_download(spec)


def _torch_embedder(spec: ModelSpec, device: str | None):
    from photofind.embed.encoder import Embedder

    return Embedder.load(spec, device)


def export_base(cache: ExportCache, loaded) -> dict:
    """Export (and check) the zero-shot text and image graphs of ``loaded`` and write their
    manifest."""
    from photofind.embed.export import export_image, export_text
    from photofind.embed.tokenize import describe_open_clip_tokenizer

    prep = PrepSpec.from_open_clip(loaded.preprocess_cfg)
    log.info("photofind: preparing %s for fast search (once per model, a minute or "
             "two)…", loaded.spec.describe())
    try:
        tokenizer = describe_open_clip_tokenizer(loaded.tokenizer)
    except NotImplementedError:
        tokenizer = None  # this tokenizer kind needs open_clip: queries then load it
    text = export_text(loaded.model, loaded.tokenizer, cache.path("text.onnx"),
                       cache.path("token_embedding.npy"))
    image = export_image(loaded.model, prep.size, cache.path("image.onnx"))
    if int8_is_fast():
        ready_int8(cache.path("image.onnx"))  # made now, inside "preparing", not at indexing
    manifest = {"preprocess": loaded.preprocess_cfg, "tokenizer": tokenizer, "text": text,
                "images": {loaded.key: image}, "dim": text["dim"]}
    cache.write(manifest)  # JSON: the preprocessing's tuples come back as lists
    return cache.read()


def _providers(device: str | None) -> list[str]:
    """ONNX Runtime's execution providers for a device preference; [] when ONNX Runtime is
    missing or has no provider for an explicitly asked accelerator (torch then serves)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    available = ort.get_available_providers()
    wanted = [p for p in _ACCELERATORS.get(device or "auto", []) if p in available]
    if device not in (None, "auto", "cpu") and not wanted:
        return []
    return wanted + ["CPUExecutionProvider"]


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@dataclass(frozen=True)
class RuntimeOptions:
    """How ONNX Runtime runs the graphs (``benchmarks/bench_onnx.py`` compares them)."""

    threads: int | None = None  # None: the cores this process may use
    optimization: str = "all"  # ONNX Runtime's graph optimisation: basic, extended, all
    int8: bool = False  # dynamically quantised weights (made beside the fp32 graph)
    per_channel: bool = False  # int8: one scale per output channel instead of per tensor
    int8_ops: tuple[str, ...] = ()  # int8: op types to quantise (empty: all it can)
    int8_text: bool = True  # int8: the text graph too (False: image graphs only)
    # image graphs as checked int8 twins (photofind.embed.quantize); None: where measured fast
    int8_images: bool | None = None
    # repack the weights for fast batches when a session opens (ONNX Runtime's default); off
    # for a process that runs a graph once or twice (``LibraryState.use_briefly``): the
    # ViT-B-32-256 image session opened in 0.42 instead of 0.62 s with 190 MB less, and
    # each batch of 8 then ran 7 % slower
    prepack: bool = True

    def int8_suffix(self) -> str:
        """The quantised graph's file suffix: one file per quantisation recipe."""
        ops = "-".join(op.lower() for op in self.int8_ops) or "all"
        return f".int8-{'channel' if self.per_channel else 'tensor'}-{ops}.onnx"


_LEVELS = {"basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
           "all": "ORT_ENABLE_ALL"}


class _Sessions:
    """ONNX Runtime sessions shared by an embedder and its adapted twins."""

    def __init__(self, cache: ExportCache, providers: list[str],
                 options: RuntimeOptions = RuntimeOptions()):
        self.cache, self.providers, self.options = cache, providers, options
        self.open: dict[str, object] = {}
        self.table: np.ndarray | None = None

    def get(self, name: str):
        if name not in self.open:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.options.threads or cores()
            options.inter_op_num_threads = 1
            options.graph_optimization_level = getattr(
                ort.GraphOptimizationLevel, _LEVELS[self.options.optimization])
            options.log_severity_level = 3
            # the arena keeps a batch's buffers for the next (the default): without it each
            # run mapped them afresh once the app returns big blocks to the system
            # (photofind.library.heap), 5 % more CPU while indexing for 20 MB less
            options.enable_cpu_mem_arena = True
            # no busy-waiting for the next run: spinning threads took the cores from the
            # reranker's torch head (2.4x slower after a query) and from the decoder process
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            if not self.options.prepack:
                options.add_session_config_entry("session.disable_prepacking", "1")
            image = not name.startswith("text")
            if self.options.int8 and (self.options.int8_text or image):
                path = self._int8(name)  # benchmarks' dynamic recipes
            elif image and self.int8_images():
                path = ready_int8(self.cache.path(name)) or self.cache.path(name)
            else:
                path = self.cache.path(name)
            self.open[name] = ort.InferenceSession(str(path), options,
                                                   providers=self.providers)
        return self.open[name]

    def int8_images(self) -> bool:
        wanted = self.options.int8_images
        return int8_is_fast() if wanted is None else wanted

    def _int8(self, name: str) -> Path:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        source = self.cache.path(name)
        target = source.with_suffix(self.options.int8_suffix())
        if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
            partial = target.with_suffix(".partial")
            quantize_dynamic(source, partial, weight_type=QuantType.QInt8,
                             per_channel=self.options.per_channel,
                             op_types_to_quantize=list(self.options.int8_ops) or None)
            os.replace(partial, target)
        return target


class OrtEmbedder(EmbedderKeys):
    """The ``Embedder`` interface (see ``photofind.embed.encoder``) over exported graphs."""

    def __init__(self, cache: ExportCache, manifest: dict, device: str | None = None,
                 loaded=None, adaptation=None, sessions: _Sessions | None = None,
                 key: str | None = None, options: RuntimeOptions | None = None):
        self.cache, self.manifest, self.device_preference = cache, manifest, device
        self.prep = PrepSpec.from_open_clip(manifest["preprocess"])
        self.adaptation = adaptation
        self._loaded = loaded
        self._sessions = sessions or _Sessions(cache, _providers(device),
                                               options or RuntimeOptions())
        # on a CPU a batch of 8 runs as fast as 32 (ViT-B-32-256: 1.04x) with half the memory
        # (505 vs 1,056 MB peak while indexing); accelerators want larger batches
        self.batch_hint = CPU_BATCH if self.runs_on_cpu else 32
        self._key = key or cache.key
        self._tokenizer = None
        self._dim = manifest.get("dim")
        self.image_batches = self.images_encoded = self.texts_encoded = 0

    runtime = "onnxruntime"

    @property
    def runtime_options(self) -> RuntimeOptions:
        return self._sessions.options

    @property
    def runs_on_cpu(self) -> bool:
        return self._sessions.providers == ["CPUExecutionProvider"]

    # -- what the torch side still serves -------------------------------------------------
    @property
    def loaded(self):
        """The torch model (loaded on first use: training and learned words need it)."""
        if self._loaded is None:
            from photofind.embed.model import load_model

            loaded = load_model(self.cache.spec, self.device_preference)
            if loaded.key != self.cache.key:
                raise ModelUnavailable(f"{self.cache.spec.describe()} changed while in use; "
                                       "restart photofind.")
            self._loaded = loaded
        return self._loaded

    @property
    def model(self):
        return self.loaded.model

    @property
    def device(self):
        return self.loaded.device

    # -- keys -----------------------------------------------------------------------------
    @property
    def base_key(self) -> str:
        return self.cache.key

    def with_options(self, options: RuntimeOptions) -> OrtEmbedder:
        """A twin that runs the same graphs with other runtime options."""
        twin = self.adapted(self.adaptation)
        twin._sessions = _Sessions(self.cache, self._sessions.providers, options)
        return twin

    def adapted(self, adaptation) -> OrtEmbedder:
        return OrtEmbedder(self.cache, self.manifest, self.device_preference, self._loaded,
                           adaptation, self._sessions, self.adapted_key(adaptation))

    # -- images ---------------------------------------------------------------------------
    def encode_images(self, batch: np.ndarray, with_tokens: bool = False):
        """N×3×H×W preprocessed float32 → N×D unit vectors; with ``with_tokens`` also the
        N×16×D float16 token grid (None if the tower has none)."""
        entry = self._image_entry()
        outputs = self._sessions.get(entry["file"]).run(
            None, {"pixels": np.ascontiguousarray(batch, dtype=np.float32)})
        self.image_batches += 1
        self.images_encoded += len(batch)
        vectors = _normalise(outputs[0])
        if not with_tokens:
            return vectors
        return vectors, outputs[1].astype(np.float16) if entry["tokens"] else None

    def _image_entry(self) -> dict:
        entry = self.manifest["images"].get(self.key)
        if self.cache.intact(entry):
            return entry
        from photofind.embed.export import export_image

        name = "image.onnx" if self.key == self.base_key else \
            f"image-{self.key.rsplit(':', 1)[-1]}.onnx"
        if entry is not None:
            log.warning("The exported image graph %s is damaged; rebuilding it.", name)
        adaptation = self.adaptation if self.key != self.base_key else None
        entry = export_image(self.model, self.prep.size, self.cache.path(name), adaptation)
        self._update_manifest("images", self.key, entry)
        return entry

    # -- text -----------------------------------------------------------------------------
    def text_tokens(self, texts: list[str]):
        """(unit query vectors N×D, token features N×T×D in the joint space, mask N×T)."""
        pooled, tokens, mask = self._text(list(texts))
        return _normalise(pooled), tokens, mask.astype(bool)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return _normalise(self._text(list(texts))[0])

    def _text(self, texts: list[str]):
        entry = self._text_entry()
        embeds, mask = self._embeds(texts, entry)
        pooled, tokens = self._sessions.get(entry["file"]).run(
            None, {"embeds": embeds, "mask": mask})
        if self.adaptation is not None:
            for row, vector in self.adaptation.prototype_rows(texts):
                pooled[row] = vector * np.linalg.norm(pooled[row])
        self.texts_encoded += len(texts)
        return pooled, tokens, mask

    def _text_entry(self) -> dict:
        entry = self.manifest["text"]
        if self.cache.intact(entry, "table"):
            return entry
        from photofind.embed.export import export_text

        log.warning("The exported text graph is damaged; rebuilding it.")
        self._sessions.open.pop(entry["file"], None)
        self._sessions.table = None
        entry = export_text(self.model, self.loaded.tokenizer, self.cache.path("text.onnx"),
                            self.cache.path("token_embedding.npy"))
        self._update_manifest("text", None, entry)
        return entry

    def _embeds(self, texts: list[str], entry: dict) -> tuple[np.ndarray, np.ndarray]:
        """Token embeddings and mask: learned words (adapted) go through torch, plain
        queries through the memory-mapped table."""
        prompt = self.adaptation.text if self.adaptation is not None else None
        if prompt is not None:
            import torch

            with torch.no_grad():
                x, mask = prompt.embed(texts)
            return x.float().cpu().numpy(), mask.long().cpu().numpy()
        ids = self._token_ids(texts, entry["context_length"])
        used = np.flatnonzero((ids != entry["pad_id"]).any(axis=0))
        ids = ids[:, : int(used.max()) + 1] if len(used) else ids
        if self._sessions.table is None:
            self._sessions.table = np.load(self.cache.path(entry["table"]), mmap_mode="r")
        embeds = np.ascontiguousarray(self._sessions.table[ids], dtype=np.float32)
        if entry["kind"] == "hf":
            mask = (ids != entry["pad_id"]).astype(np.int64)
        else:  # causal: up to and including the end token (see embed.text.OpenClipText)
            last = (ids != 0).sum(axis=1) - 1
            mask = (np.arange(ids.shape[1])[None] <= last[:, None]).astype(np.int64)
        return embeds, mask

    def _token_ids(self, texts: list[str], context_length: int) -> np.ndarray:
        if self.manifest.get("tokenizer") is None:  # a kind only open_clip reads
            return self.loaded.tokenizer(texts, context_length=context_length).numpy()
        if self._tokenizer is None:
            from photofind.embed.tokenize import from_description

            self._tokenizer = from_description(self.manifest["tokenizer"])
        return np.asarray(self._tokenizer(texts, context_length=context_length),
                          dtype=np.int64)

    def _update_manifest(self, section: str, key: str | None, entry: dict) -> None:
        if key is None:
            self.manifest[section] = entry
        else:
            self.manifest[section][key] = entry
        self.cache.write(self.manifest)


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
