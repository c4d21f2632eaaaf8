"""What the torch and the ONNX Runtime embedders share: the keys their vectors are stored
under, and the width of those vectors. Torch-free, like the rest of the query path."""

from __future__ import annotations


class EmbedderKeys:
    """Mixed into ``embed.encoder.Embedder`` and ``embed.runtime.OrtEmbedder``, which set
    ``adaptation``, ``_key`` and ``_dim`` and provide ``base_key`` and ``encode_texts``."""

    adaptation = None
    _key: str
    _dim: int | None = None
    texts_encoded: int

    @property
    def key(self) -> str:
        """Key of the image embeddings this embedder makes (adapted photos get their own)."""
        return self._key

    def adapted_key(self, adaptation) -> str:
        """The key of photos embedded with ``adaptation`` (its image side, if it has one)."""
        if adaptation is not None and adaptation.touches_images:
            return f"{self.base_key}|adapted:{adaptation.image_digest()}"
        return self.base_key

    @property
    def token_key(self) -> str:
        """Key of the reranker's image tokens: only visual prompts change them."""
        adaptation = self.adaptation
        return self.key if adaptation is not None and adaptation.visual is not None \
            else self.base_key

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.encode_texts(["a photo"]).shape[1])
            self.texts_encoded -= 1
        return self._dim
