"""An adaptation: the trained prompt/adapter tensors of one library and one model.

Saved as safetensors (tensors only: nothing executable) plus a JSON file with the model key,
configuration, parameter counts and before/after validation metrics.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from photofind.adapt.prompts import ImageAdapter, TextPrompt, VisualPrompt
from photofind.library.files import file_facts
from photofind.search.examples import tag_name


@dataclass
class AdaptConfig:
    text: bool = True  # learned context vectors for queries
    visual: bool = True  # VPT tokens (ViT) or a pixel border (other towers)
    adapter: bool = False  # residual MLP on the image embedding (CLIP-Adapter)
    n_ctx: int = 8
    init_phrase: str = "a photo of"
    n_visual: int = 8
    visual_depth: int | None = None  # block the visual tokens enter at; None = the last one
    epochs: int = 10
    min_steps: int = 0  # small libraries: repeat photos until this many steps (app: 200)
    batch_size: int = 64
    negatives: int = 128  # unlabelled library photos added to every step's gallery
    unlabelled_weight: float = 0.5  # they may match: softer negatives than the batch
    lr: float = 2e-3
    pixel_lr: float = 0.05  # a CNN tower's pixel border (see PromptTrainer._parameter_groups)
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    patience: int = 3
    max_gallery: int = 1500
    # Seconds this variant may take (slow CPUs, big models): after each epoch the planned
    # number of epochs is fitted to what is left, and the learning-rate schedule with it.
    # None: no limit.
    time_budget_s: float | None = None
    seed: int = 0
    concepts: dict[str, list[str]] = field(default_factory=dict)  # key → names, display first
    concept_min_photos: int = 5  # a tag on this many training photos may get its own word;
    concept_max_ap: float = 50.0  # ... if the model does not already know it (val AP below)
    # False only to study the gate (``photofind eval --ungated``): the best epoch is kept
    # whatever the gate says, and the result records what it said.
    gate: bool = True

    @property
    def variant(self) -> str:
        parts = [n for n, on in (("text", self.text), ("visual", self.visual),
                                 ("adapter", self.adapter)) if on]
        return "+".join(parts + (["concepts"] if self.concepts else [])) or "zero-shot"


class Adaptation(nn.Module):
    """The trainable parts on top of a frozen open_clip model."""

    def __init__(self, model: nn.Module, tokenizer, config: AdaptConfig, image_size: int,
                 dim: int):
        super().__init__()
        self.config = config
        self.text = TextPrompt(model, tokenizer, config.n_ctx if config.text else 0,
                               config.init_phrase) if (config.text or config.concepts) else None
        for key, names in config.concepts.items():
            self.text.add_concept(key, names)
        self.visual = VisualPrompt(model.visual, config.n_visual, config.visual_depth,
                                   image_size=image_size) if config.visual else None
        self.adapter = ImageAdapter(dim) if config.adapter else None
        self.meta: dict = {}

    def add_concepts(self, concepts: dict[str, list[str]], model: nn.Module, tokenizer) -> None:
        if self.text is None:
            self.text = TextPrompt(model, tokenizer, 0)
        for key, names in concepts.items():
            self.text.add_concept(key, names)
        self.config.concepts.update(concepts)

    def remove_concepts(self, keys) -> list[str]:
        """Forget these learned words (the person stopped using them) with their report, and
        return their names. Only ``text.*`` tensors change, which ``image_digest`` ignores:
        the photos' embeddings stay valid. Without context vectors or words left, ``text``
        goes, as a fresh ``Adaptation`` of this config has none (so the saved file loads)."""
        removed = []
        for key in dict.fromkeys(keys):
            if key in self.config.concepts:
                removed.append(self.config.concepts.pop(key)[0])
                self.text.remove_concept(key)
                self.meta.get("concepts", {}).pop(key, None)
        if self.text is not None and not self.config.text and not self.config.concepts:
            self.text = None
        return removed

    @property
    def touches_images(self) -> bool:
        return self.visual is not None or self.adapter is not None

    def image_digest(self) -> str:
        """Identifies the image side: part of the model key of re-embedded photos."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.state_dict().items()):
            if not name.startswith("text."):
                digest.update(name.encode())
                digest.update(tensor.detach().float().cpu().numpy().tobytes())
        return digest.hexdigest()[:12]

    def trainable_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        tmp = path.with_name(path.name + ".tmp")
        save_file(state, str(tmp))
        weights = file_facts(tmp)  # checked before every load (services.artefacts)
        os.replace(tmp, path)
        meta = {**self.meta, "config": asdict(self.config), "weights": weights}
        json_tmp = path.with_suffix(".json.tmp")
        json_tmp.write_text(json.dumps(meta, indent=2))
        os.replace(json_tmp, path.with_suffix(".json"))

    @classmethod
    def load(cls, path: Path, model: nn.Module, tokenizer, image_size: int,
             dim: int) -> Adaptation:
        from safetensors.torch import load_file

        meta = json.loads(path.with_suffix(".json").read_text())
        config = AdaptConfig(**meta["config"])
        adaptation = cls(model, tokenizer, config, image_size, dim)
        adaptation.load_state_dict(load_file(str(path)))
        adaptation.meta = meta
        return adaptation.eval().requires_grad_(False)

    # -- encoding -------------------------------------------------------------------------
    def encode_text(self, model: nn.Module, tokenizer, texts: list[str]) -> torch.Tensor:
        if self.text is None:
            return model.encode_text(tokenizer(texts).to(_device(model)))
        features = self.text(texts)
        for row, vector in self.prototype_rows(texts):
            features = features.clone()
            features[row] = torch.from_numpy(vector).to(features) * features[row].norm()
        return features

    def prototype_rows(self, texts: list[str]) -> list[tuple[int, np.ndarray]]:
        """(row, unit vector) for queries that are a bare concept name ("Biscuit" alone),
        where validation found the mean of the concept's photos better than its word."""
        if self.text is None:
            return []
        prototypes = self.prototype_queries()
        rows = []
        for row, text in enumerate(texts):
            key = prototypes.get(_bare(text))
            if key is not None:
                rows.append((row, np.asarray(self.meta["concepts"][key]["prototype"],
                                             dtype=np.float32)))
        return rows

    def prototype_queries(self) -> dict[str, str]:
        """Bare concept names answered by the prototype (validation preferred it)."""
        concepts = self.meta.get("concepts", {})
        return {" ".join(info["name"].casefold().split()): key for key, info in concepts.items()
                if info.get("mode") == "prototype" and key in self.config.concepts}

    def encode_image(self, model: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
        features = self.visual(pixels) if self.visual is not None else model.encode_image(pixels)
        return self.adapter(features) if self.adapter is not None else features


def _bare(text: str) -> str:
    """The concept name a query may be, case-folded: the tag a search query names."""
    return (tag_name(text) or "").casefold()


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
