"""Caption CSVs and batched image encoding shared by feature extraction, evaluation and checks."""

import csv
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset


def read_captions(data_dir: Path) -> dict[str, list[str]]:
    """`image -> captions` in file order (so sampling and evaluation are reproducible)."""
    captions: dict[str, list[str]] = {}
    with open(data_dir / "captions.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            captions.setdefault(row["image"], []).append(row["caption"])
    return captions


class _Images(Dataset):
    def __init__(self, paths: Sequence[Path], transform: Callable):
        self.paths, self.transform = list(paths), transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        with Image.open(self.paths[i]) as im:
            return self.transform(im.convert("RGB"))


def log(msg: str) -> None:
    print(f"[bench-model] {msg}", flush=True)


@torch.no_grad()
def encode_images(
    encode: Callable, paths: Sequence[Path], transform: Callable, label: str, batch_size: int = 64
) -> torch.Tensor:
    """Run `encode` over decoded + transformed images; one worker decodes while torch computes."""
    loader = DataLoader(_Images(paths, transform), batch_size=batch_size, num_workers=1)
    out, start, done = [], time.perf_counter(), 0
    for batch in loader:
        out.append(encode(batch).float())
        done += len(batch)
        if len(out) % 20 == 0 or done == len(paths):
            log(f"{label}: {done}/{len(paths)} images, {time.perf_counter() - start:.0f} s")
    return torch.cat(out)


def trim_padding(tokens: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Drop all-padding columns: the HF tower masks padding, so outputs are unchanged but faster."""
    keep = int((tokens != pad_id).sum(1).max())
    return tokens[:, :keep]


@torch.no_grad()
def encode_texts(
    encode: Callable, tokenizer: Callable, texts: Sequence[str], label: str, batch_size: int = 256
) -> torch.Tensor:
    out, start = [], time.perf_counter()
    for i in range(0, len(texts), batch_size):
        out.append(encode(trim_padding(tokenizer(list(texts[i : i + batch_size])))).float())
        done = min(i + batch_size, len(texts))
        if len(out) % 20 == 0 or done == len(texts):
            log(f"{label}: {done}/{len(texts)} captions, {time.perf_counter() - start:.0f} s")
    return torch.cat(out)
