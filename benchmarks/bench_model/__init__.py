"""Bench model: a small, genuinely pretrained LiT-style dual encoder for photofind benchmarks."""

from .load import load_bench_model

__all__ = ["load_bench_model"]
