"""Which model to use, without importing torch or open_clip (the cold search path reads
this, then runs the exported ONNX towers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"


class ModelUnavailable(RuntimeError):
    """The model cannot be loaded; the message says what to do about it."""


@dataclass(frozen=True)
class ModelSpec:
    """Which model to use. ``pretrained`` is an open_clip weights tag or a weights file;
    ``config`` (optional) is an open_clip model-config JSON for custom architectures."""

    name: str = DEFAULT_MODEL
    pretrained: str | None = DEFAULT_PRETRAINED
    config: str | None = None

    def describe(self) -> str:
        if self.config:
            return f"custom model {Path(self.config).name} + {self.pretrained}"
        return f"{self.name} ({self.pretrained})"
