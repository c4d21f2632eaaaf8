"""Export the frozen towers of a loaded open_clip model to ONNX, and check them against torch.

Two graphs per model, one more per adaptation that changes the image side:

* image: pixels N×3×S×S → pooled vector N×D (+ the reranker's N×16×D token grid);
* text: token embeddings N×L×W + mask N×L → pooled N×D + token features N×L×D. Taking
  embeddings, not ids, lets learned context vectors and personal-concept words be put in
  place before the graph runs (``photofind.embed.text``), so an adaptation never needs a
  new text graph. The token-embedding table is saved beside it as a ``.npy`` that the
  runtime memory-maps: a query reads only its own rows.

Every graph is compared with torch on sample inputs before it is used (cosine ≥
``MIN_COSINE`` per pooled vector and per token). A graph that fails is not written, and the
caller falls back to torch.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from photofind.embed.onnx_files import quick_digest
from photofind.embed.text import HFText, text_tower
from photofind.embed.tokens import encode_with_tokens

log = logging.getLogger(__name__)

MIN_COSINE = 0.9999
OPSET = 18
OPTIMIZE = True  # onnxscript's graph optimiser before saving (see benchmarks/README.md)
_BATCH = torch.export.Dim("batch", min=1, max=4096)
SAMPLE_TEXTS = ("a photo of a dog", "two children run along a sandy beach at sunset",
                "red kayak", "a man in a blue jacket climbs a snowy mountain with friends")


class ExportFailed(RuntimeError):
    """A graph could not be exported, or does not match torch."""


class _ImageGraph(nn.Module):
    def __init__(self, model: nn.Module, adaptation=None):
        super().__init__()
        self.model, self.adaptation = model, adaptation

    def forward(self, pixels):
        pooled, tokens = encode_with_tokens(self.model, self.adaptation, pixels)
        return (pooled,) if tokens is None else (pooled, tokens)


class _TextGraph(nn.Module):
    def __init__(self, model: nn.Module, tower):
        super().__init__()
        self.model, self.tower = model, tower

    def forward(self, embeds, mask):
        return self.tower.forward_embeds(embeds, mask, with_tokens=True)


def export_image(model: nn.Module, image_size: int, path: Path, adaptation=None) -> dict:
    """Write the image graph to ``path`` (atomically) after checking it; returns its entry
    for the manifest."""
    graph = _ImageGraph(model, adaptation).eval()
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(2, 3, image_size, image_size, generator=generator)
    check = torch.randn(3, 3, image_size, image_size, generator=generator)
    with torch.inference_mode():
        expected = [t.float().numpy() for t in graph(check)]
    has_tokens = len(expected) == 2
    outputs = ["pooled", "tokens"] if has_tokens else ["pooled"]
    with _writing(path) as tmp:
        cosine = _export(graph, (sample,), tmp, ["pixels"], outputs, {"pixels": {0: _BATCH}},
                         lambda: _min_cosine(expected, _run(tmp, {"pixels": check.numpy()})),
                         torchscript=True)
    return {"file": path.name, "tokens": has_tokens, "cosine": cosine, **file_facts(path)}


def export_text(model: nn.Module, tokenizer, path: Path, table_path: Path) -> dict:
    """Write the text graph and the token-embedding table; returns the manifest entry."""
    tower = text_tower(model, tokenizer)
    graph = _TextGraph(model, tower).eval()
    with torch.inference_mode():
        # traced on a padded batch (HF towers skip the mask when nothing is padded) and
        # checked on others, of other lengths and batch sizes
        sample = tower.embed(list(SAMPLE_TEXTS[:2]), None, None)
        checks = [tower.embed(list(SAMPLE_TEXTS), None, None),
                  tower.embed([SAMPLE_TEXTS[2]], None, None)]
        table = tower.embedding().weight.detach().float().cpu().numpy()
    length = torch.export.Dim("length", min=2, max=tower.context_length)
    shapes = {"embeds": {0: _BATCH, 1: length}, "mask": {0: _BATCH, 1: length}}
    expected = []
    with torch.inference_mode():
        for x, mask in checks:
            pooled, tokens = graph(x, mask)
            keep = mask.bool().numpy()
            expected.append((x.float().numpy(), mask.numpy(), keep,
                             [pooled.float().numpy(), tokens.float().numpy()[keep]]))

    def check() -> float:
        worst = 1.0
        for x, mask, keep, want in expected:
            found = _run(tmp, {"embeds": x, "mask": mask})
            worst = min(worst, _min_cosine(want, [found[0], found[1][keep]]))
        return worst

    with _writing(path) as tmp:
        cosine = _export(graph, sample, tmp, ["embeds", "mask"], ["pooled", "tokens"], shapes,
                         check)
    with _writing(table_path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, np.ascontiguousarray(table))
    kind = "hf" if isinstance(tower, HFText) else "open_clip"
    return {"file": path.name, "table": table_path.name, "kind": kind, "cosine": cosine,
            "dim": int(expected[0][3][0].shape[-1]),
            "context_length": tower.context_length, "pad_id": tower.pad_id,
            **file_facts(path), "table_facts": file_facts(table_path)}


def file_facts(path: Path) -> dict:
    return {"size": path.stat().st_size, "digest": quick_digest(path)}


def _export(graph, args, path: Path, inputs, outputs, shapes, check,
            torchscript: bool = False) -> float:
    """Export, then ``check``. With ``torchscript`` the TorchScript exporter goes first:
    seconds instead of a minute, and ONNX Runtime fuses its attention better (ViT-B-32-256
    images ~20 % faster); a graph it cannot make, or that fails the check, is made again by
    the torch.export-based exporter. (For text the TorchScript exporter bakes the traced
    sequence length into the attention reshapes, so only torch.export is used there.)"""
    if torchscript:
        axes = {name: {dim: f"d{dim}" for dim in spec} for name, spec in shapes.items()}
        axes.update({name: {0: "d0"} for name in outputs})
        try:
            with _exporting(fast_path=False):  # its fused op has no ONNX form
                torch.onnx.export(graph, tuple(args), str(path), dynamo=False,
                                  input_names=inputs, output_names=outputs, dynamic_axes=axes,
                                  opset_version=OPSET)
            return check()
        except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds
            log.info("TorchScript export not used (%s)", _first_line(exc))
    try:
        with _exporting():
            program = torch.onnx.export(graph, tuple(args), dynamo=True, input_names=inputs,
                                        output_names=outputs, dynamic_shapes=shapes,
                                        opset_version=OPSET, optimize=OPTIMIZE, verbose=False)
            program.save(str(path), external_data=False)
    except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds
        raise ExportFailed(f"{type(exc).__name__}: {_first_line(exc)}") from exc
    return check()


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:300]


@contextlib.contextmanager
def _exporting(fast_path: bool = True):
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(fast_path and before)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad(), \
                _quiet():
            warnings.simplefilter("ignore")  # exporter chatter
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


def _run(path: Path, feeds: dict) -> list[np.ndarray]:
    import onnxruntime as ort

    try:
        options = ort.SessionOptions()
        options.log_severity_level = 4  # a failed check is reported by ExportFailed
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return session.run(None, feeds)
    except Exception as exc:  # noqa: BLE001 - onnxruntime's errors are not one type
        raise ExportFailed(f"onnxruntime cannot run the export: {exc}") from exc


def _min_cosine(expected: list[np.ndarray], found: list[np.ndarray]) -> float:
    worst = 1.0
    for want, got in zip(expected, found):
        want = want.reshape(-1, want.shape[-1]).astype(np.float64)
        got = np.asarray(got).reshape(-1, want.shape[-1]).astype(np.float64)
        if want.shape != got.shape:
            raise ExportFailed(f"export gives shape {got.shape}, torch {want.shape}")
        norms = np.linalg.norm(want, axis=1) * np.linalg.norm(got, axis=1)
        cosine = (want * got).sum(axis=1) / np.maximum(norms, 1e-12)
        worst = min(worst, float(cosine.min()))
    if not worst >= MIN_COSINE:
        raise ExportFailed(f"export differs from torch (cosine {worst:.6f} < {MIN_COSINE})")
    return worst


@contextlib.contextmanager
def _quiet():
    """The exporters print progress and graph dumps: none of it is for the user (and
    ``--json`` keeps stdout for JSON alone)."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), _quiet_fd(1), _quiet_fd(2), \
            _log_level("torch.onnx", logging.ERROR), \
            _log_level("onnxscript", logging.ERROR), _log_level("onnx_ir", logging.ERROR):
        yield


@contextlib.contextmanager
def _quiet_fd(fd: int):
    """The TorchScript exporter's C++ side prints whole graphs (to stdout) when it gives up."""
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)


@contextlib.contextmanager
def _log_level(name: str, level: int):
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


class _writing:
    """A temporary file beside ``path`` that replaces it only if the block succeeds."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        os.close(handle)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
