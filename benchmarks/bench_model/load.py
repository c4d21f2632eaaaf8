"""Load a built bench model through plain open_clip calls.

The config names its HF folder relative to the JSON file so the build can move; open_clip would
resolve a relative `hf_model_name` against the working directory (or treat it as a hub id), so
it is made absolute here before the config is registered.
"""

import json
import tempfile
from pathlib import Path

import open_clip

from .paths import CONFIG_FILE, MODEL_NAME, WEIGHTS_FILE

_HF_KEYS = ("hf_model_name", "hf_tokenizer_name")


def read_config(out_dir: str | Path) -> dict:
    """The saved config with its relative HF paths resolved against the JSON's folder."""
    path = Path(out_dir) / CONFIG_FILE
    cfg = json.loads(path.read_text())
    text_cfg = cfg["model_cfg"]["text_cfg"]
    for key in _HF_KEYS:
        text_cfg[key] = str((path.parent / text_cfg[key]).resolve())
    return cfg


def register(cfg: dict, name: str = MODEL_NAME) -> str:
    """Make the model config known to open_clip under `name`: open_clip's add_model_config
    reads a file named after the model, so it is written to a temporary folder first."""
    with tempfile.TemporaryDirectory(prefix="bench-model-") as folder:
        path = Path(folder) / f"{name}.json"
        path.write_text(json.dumps(cfg["model_cfg"]))
        open_clip.add_model_config(path)
    return name


def load_bench_model(out_dir: str | Path, device: str = "cpu"):
    """Return (model, preprocess, tokenizer) for the build in `out_dir`; model in eval mode."""
    cfg = read_config(out_dir)
    name = register(cfg)
    pp = cfg["preprocess_cfg"]
    model, preprocess = open_clip.create_model_from_pretrained(
        name,
        pretrained=str(Path(out_dir) / WEIGHTS_FILE),
        device=device,
        image_mean=pp["mean"],
        image_std=pp["std"],
        image_interpolation=pp["interpolation"],
        image_resize_mode=pp["resize_mode"],
    )
    tokenizer = open_clip.get_tokenizer(name)  # HFTokenizer on the local folder, context 64
    return model.eval(), preprocess, tokenizer
