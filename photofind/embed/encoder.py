"""Encode photos and text into one normalised vector space."""

from __future__ import annotations

import numpy as np
import torch

from photofind.embed.model import LoadedModel, ModelSpec, load_model
from photofind.library.decode import PrepSpec


class Embedder:
    """Frozen open_clip model + tokenizer. Counts its calls so callers (and tests) can see
    how much encoding an operation really cost."""

    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded
        self.model = loaded.model
        self.device = loaded.device
        self.prep = PrepSpec.from_open_clip(loaded.preprocess_cfg)
        self.image_batches = 0
        self.images_encoded = 0
        self.texts_encoded = 0
        self._dim: int | None = None

    @classmethod
    def load(cls, spec: ModelSpec = ModelSpec(), device: str | None = None) -> Embedder:
        return cls(load_model(spec, device))

    @property
    def key(self) -> str:
        return self.loaded.key

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.encode_texts(["a photo"]).shape[1])
            self.texts_encoded -= 1
        return self._dim

    @torch.inference_mode()
    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        """N×3×H×W preprocessed float32 → N×D unit vectors (float32)."""
        pixels = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
        features = self.model.encode_image(pixels, normalize=True)
        self.image_batches += 1
        self.images_encoded += len(batch)
        return features.float().cpu().numpy()

    @torch.inference_mode()
    def encode_texts(self, texts: list[str]) -> np.ndarray:
        tokens = self.loaded.tokenizer(list(texts)).to(self.device)
        features = self.model.encode_text(tokens, normalize=True)
        self.texts_encoded += len(texts)
        return features.float().cpu().numpy()
