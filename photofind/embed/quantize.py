"""int8 image graphs: indexing ~1.5× faster on CPUs with int8 dot-product instructions.

The image tower is what indexing pays for. On a CPU with AVX-512 VNNI, AVX-VNNI or AMX,
ONNX Runtime's ``MatMulNBits`` runs int8 weights with int8 activations far faster than
float32 (ViT-B-32-256, 2 cores: 60 → 39 ms a photo), and the graph shrinks 3× (335 → 113 MB,
less memory while indexing).

The recipe is chosen for faithfulness, measured in ``benchmarks/README.md``: weights in
blocks of ``BLOCK`` along the inner dimension, each with its own scale, and activations
quantised per row and block (accuracy level 4). Dynamic quantisation, with one activation
scale for a whole batch, cost a real transformer (the bench model's text tower) 0.7 of its
top-10 agreement with torch; blocks keep 9.7 of 10 and R@1 within 0.1 point.

Text graphs stay float32: a query is one short forward pass, and its precision decides the
ranking of every photo. Each int8 graph is made once from the checked float32 graph, checked
against it (cosine ≥ ``MIN_COSINE`` per vector on sample pixels), and described by a record
beside it (its size and quick digest); a graph that fails, or a file that no longer matches
its record, is not used: it is made again, or float32 serves.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from pathlib import Path

import numpy as np

from photofind.embed.onnx_files import quick_digest

log = logging.getLogger(__name__)

INT8_ENV = "PHOTOFIND_INT8"  # "0" keeps float32 image graphs; "1" uses int8 on any CPU
BLOCK = 128
MIN_COSINE = 0.999
RECIPE = f"int8-block{BLOCK}-v1"
_FAST_FLAGS = {"avx512_vnni", "avx_vnni", "amx_int8"}  # measured fast (x86 /proc/cpuinfo)


def int8_is_fast() -> bool:
    """Whether image graphs run as int8 here: ``PHOTOFIND_INT8`` if set, else on x86 CPUs
    with int8 dot products (where it was measured faster; elsewhere float32 is kept)."""
    forced = os.environ.get(INT8_ENV, "").strip().lower()
    if forced:
        return forced not in ("0", "no", "off", "false")
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return bool(_FAST_FLAGS & set(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return False


def int8_path(source: Path) -> Path:
    return source.with_name(f"{source.stem}.{RECIPE}.onnx")


def ready_int8(source: Path, input_name: str = "pixels") -> Path | None:
    """The checked int8 twin of float32 image graph ``source``: reused when its record
    matches both files, else made (and checked) now. None when it cannot be made or does
    not match float32 closely enough (logged once; float32 serves)."""
    target = int8_path(source)
    record_path = target.with_suffix(".json")
    source_digest = quick_digest(source)
    try:
        record = json.loads(record_path.read_text())
        if record["source"] == source_digest and record["digest"] == quick_digest(target):
            return target if record["cosine"] >= MIN_COSINE else None
    except (OSError, ValueError, KeyError, TypeError):
        pass  # missing, damaged or stale: made again
    if record_path.exists() or target.exists():
        log.warning("the int8 image graph %s is missing, damaged or stale: making it again",
                    target.name)
    for stale in (record_path, target):
        stale.unlink(missing_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        quantise(source, partial)
        cosine = agreement(source, partial, input_name)
    except Exception as exc:  # noqa: BLE001 - a failed quantisation must not stop indexing
        partial.unlink(missing_ok=True)
        log.warning("int8 image graph not made (%s: %s); float32 is used",
                    type(exc).__name__, exc)
        return None
    os.replace(partial, target)
    _write_json(record_path, {"recipe": RECIPE, "source": source_digest,
                              "digest": quick_digest(target), "cosine": cosine})
    if cosine < MIN_COSINE:
        log.warning("the int8 image graph differs from float32 (cosine %.5f < %s); float32 "
                    "is used", cosine, MIN_COSINE)
        return None
    return target


def quantise(source: Path, target: Path, block: int = BLOCK) -> None:
    """MatMul weights as int8 in blocks of ``block``, with per-block int8 activations."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    config = DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=True,
                                          accuracy_level=4, bits=8)
    quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), bits=8, block_size=block,
                                     is_symmetric=True, accuracy_level=4,
                                     algo_config=config)
    quantizer.process()
    quantizer.model.save_model_to_file(str(target), use_external_data_format=False)


def agreement(source: Path, target: Path, input_name: str) -> float:
    """The lowest cosine between the two graphs' pooled vectors on seeded sample pixels."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    sessions = [ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                for path in (source, target)]
    shape = sessions[0].get_inputs()[0].shape
    side = next(d for d in reversed(shape) if isinstance(d, int))
    pixels = np.random.default_rng(0).standard_normal((4, 3, side, side)).astype(np.float32)
    want, got = (s.run(None, {input_name: pixels})[0] for s in sessions)
    want = want / np.linalg.norm(want, axis=1, keepdims=True)
    got = got / np.linalg.norm(got, axis=1, keepdims=True)
    return float((want * got).sum(1).min())


def _write_json(path: Path, data: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data))
    os.replace(partial, path)
