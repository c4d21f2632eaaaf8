"""Encode photos and text into one normalised vector space."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from photofind.embed.keys import EmbedderKeys
from photofind.embed.model import LoadedModel, ModelSpec, load_model
from photofind.embed.text import encode_frozen_text, text_tower
from photofind.embed.tokens import encode_with_tokens
from photofind.library.decode import PrepSpec


class Embedder(EmbedderKeys):
    """Frozen open_clip model + tokenizer, run by torch (``photofind.embed.runtime`` has the
    ONNX Runtime twin). Counts its calls so callers (and tests) can see how much encoding an
    operation really cost."""

    runtime = "torch"

    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded
        self.model = loaded.model
        self.device = loaded.device
        self.batch_hint = 32  # photos per call that suit this runtime (LibraryState.batch_size)
        self.prep = PrepSpec.from_open_clip(loaded.preprocess_cfg)
        self.image_batches = 0
        self.images_encoded = 0
        self.texts_encoded = 0
        self._dim: int | None = None
        self.adaptation = None  # photofind.adapt.store.Adaptation, when the library has one
        self._key = loaded.key

    @classmethod
    def load(cls, spec: ModelSpec = ModelSpec(), device: str | None = None) -> Embedder:
        return cls(load_model(spec, device))

    @property
    def base_key(self) -> str:
        """The frozen model's key: zero-shot embeddings are stored under it."""
        return self.loaded.key

    @property
    def runs_on_cpu(self) -> bool:
        return str(self.device).startswith("cpu")

    def adapted(self, adaptation) -> Embedder:
        """A sibling embedder that encodes with ``adaptation`` (None: zero-shot)."""
        twin = Embedder(self.loaded)
        twin.adaptation = adaptation
        twin._key = self.adapted_key(adaptation)
        return twin

    @torch.inference_mode()
    def encode_images(self, batch: np.ndarray, with_tokens: bool = False):
        """N×3×H×W preprocessed float32 → N×D unit vectors (float32); with ``with_tokens``
        also the N×16×D float16 token grid for the reranker (None if unsupported)."""
        pixels = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
        tokens = None
        if with_tokens:
            features, tokens = encode_with_tokens(self.model, self.adaptation, pixels)
        elif self.adaptation is not None:
            features = self.adaptation.encode_image(self.model, pixels)
        else:
            features = self.model.encode_image(pixels)
        self.image_batches += 1
        self.images_encoded += len(batch)
        vectors = F.normalize(features.float(), dim=-1).cpu().numpy()
        if not with_tokens:
            return vectors
        return vectors, None if tokens is None else tokens.half().cpu().numpy()

    @torch.inference_mode()
    def text_tokens(self, texts: list[str]):
        """(unit query vectors N×D numpy, token features N×T×D in the joint space, mask N×T)
        from one forward of the text tower (prompts and concepts included when adapted)."""
        prompt = self.adaptation.text if self.adaptation is not None else None
        if prompt is not None:
            pooled, tokens, mask = prompt(list(texts), with_tokens=True)
            for row, vector in self.adaptation.prototype_rows(list(texts)):  # as encode_texts
                pooled[row] = torch.from_numpy(vector).to(pooled) * pooled[row].norm()
        else:
            tower = text_tower(self.model, self.loaded.tokenizer)
            pooled, tokens, mask = tower.encode(list(texts), None, None, with_tokens=True)
        self.texts_encoded += len(texts)
        vectors = F.normalize(pooled.float(), dim=-1).cpu().numpy()
        return vectors, tokens.float().cpu(), mask.cpu()

    @torch.inference_mode()
    def encode_texts(self, texts: list[str]) -> np.ndarray:
        if self.adaptation is not None:
            features = F.normalize(self.adaptation.encode_text(
                self.model, self.loaded.tokenizer, list(texts)), dim=-1)
        else:
            features = F.normalize(encode_frozen_text(self.model, self.loaded.tokenizer,
                                                      list(texts)), dim=-1)
        self.texts_encoded += len(texts)
        return features.float().cpu().numpy()
