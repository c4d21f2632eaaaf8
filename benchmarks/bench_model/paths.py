"""Where the bench model reads its data and writes its build (one place, so tests agree)."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Shared data lives next to the checkout (`../shared`), read-only; overridable for other layouts.
SHARED_DATA = Path(os.environ.get("PHOTOFIND_SHARED_DATA", REPO.parent / "shared" / "data"))
TRAIN_DIR = SHARED_DATA / "flickr8k-train"  # training pairs only
EVAL_DIR = SHARED_DATA / "flickr8k"  # evaluation only, never trained on
FLOWERS_DIR = SHARED_DATA / "flowers"
DEFAULT_OUT = REPO / ".bench-cache" / "bench-model"  # git-ignored

MODEL_NAME = "bench-lit"
CONFIG_FILE = f"{MODEL_NAME}.json"
WEIGHTS_FILE = f"{MODEL_NAME}.safetensors"
REPORT_FILE = "build-report.json"
MINILM_DIR = "minilm"  # HF config + tokenizer, referenced relative to CONFIG_FILE
FEATURE_CACHE = "cache/flickr8k-train-features.pt"
