"""rclip 4.0.8 offline, for ``bench_peer.py``: its venv, and its model files with our weights.

rclip's ``model_download.py`` looks for everything under its data dir, ``$RCLIP_DATADIR``
(default ``~/.local/share/rclip``), and asks the Hugging Face hub
(``yurijmikhalevich/rclip-models``) only for what is missing:

    ViT-B-32-256-datacomp_s34b_b86k/visual.onnx   input "input" float32 [N,3,256,256] -> [N,512]
    ViT-B-32-256-datacomp_s34b_b86k/textual.onnx  input "input" int64 [N,77] -> [N,512]
    tokenizer/bpe_simple_vocab_16e6.txt.gz        CLIP BPE (rclip vendors the tokenizer code)
    LICENSE, OPENAI-CLIP-MIT.txt, README.md, THIRD_PARTY_NOTICES.md   (checked for, never read)

The towers are open_clip's ``model.visual(x)`` and ``model.encode_text(x)``, unnormalised
(rclip normalises), exported like rclip's ``scripts/convert_model.py`` does (TorchScript
exporter, opset 18, output "output", dynamic batch axis). rclip preprocesses images itself
(resize the short side to 256 bicubic, centre crop, CLIP mean/std): ``ViT-B-32-256``'s own
preprocessing, which photofind gets from open_clip.

``prepare_models`` makes, once, in its folder: ``ViT-B-32-256-random.safetensors``
(bench_indexing's ``random_weights``: seed 0) for ``photofind --pretrained``, ``rclip/``
with the files above exported from those same weights, and ``ready.json``, written last,
after rclip itself (in its venv) has embedded a text and a photo with them and matched
torch's embeddings. Each round's ``$RCLIP_DATADIR`` links to ``rclip/``'s entries.

The export runs in a child process (``python -m benchmarks.peer_model``) so that the driver
never loads torch.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.bench_indexing import FLICKR, random_weights

RCLIP_VERSION = "4.0.8"
MODEL_SUBDIR = "ViT-B-32-256-datacomp_s34b_b86k"  # rclip's model_download.MODEL_SUBDIR
VOCAB = "tokenizer/bpe_simple_vocab_16e6.txt.gz"
LEGAL_FILES = ("LICENSE", "OPENAI-CLIP-MIT.txt", "README.md", "THIRD_PARTY_NOTICES.md")
TEXT_QUERY = "a dog runs through the grass"
ROOT = Path(__file__).resolve().parents[1]

# Run in rclip's venv: embed a text and a photo through rclip's own Model (model_download,
# tokenizer, preprocessing, ONNX Runtime), save the preprocessed pixels for the comparison.
RCLIP_CHECK = """
import json, sys
import numpy as np
from PIL import Image
from rclip.model import Model
from rclip.utils.preprocess import preprocess
model = Model()
pixels = preprocess(Image.open(sys.argv[2]))
np.save(sys.argv[3], pixels)
print(json.dumps({"text": model.compute_text_features([sys.argv[1]])[0].tolist(),
                  "image": model.compute_preprocessed_image_features([pixels])[0].tolist()}))
"""


def peer_env(**extra: str) -> dict:
    """This environment without PYTHONPATH (the benchmarks' ``.`` is not for rclip's venv),
    offline for the hub, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "HF_HUB_OFFLINE": "1", **extra}


def find_python312(explicit: str | None) -> str:
    """An interpreter >= 3.12: ``explicit``, else ``python3.12`` on PATH, else pyenv's."""
    candidates = [explicit] if explicit else [
        "python3.12", *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3")))]
    for exe in candidates:
        try:
            subprocess.run([exe, "-c", "import sys; assert sys.version_info >= (3, 12)"],
                           check=True, capture_output=True)
            return exe
        except (OSError, subprocess.CalledProcessError):
            continue
    sys.exit(f"no Python >= 3.12 for rclip among {candidates}; give --peer-python")


def ensure_peer_venv(venv: Path, python: str | None = None) -> dict:
    """``venv`` with rclip==RCLIP_VERSION (made if missing); its versions."""
    if not (venv / "bin" / "rclip").exists():
        exe = find_python312(python)
        print(f"making rclip's venv {venv} with {exe}", file=sys.stderr, flush=True)
        subprocess.run([exe, "-m", "venv", str(venv)], check=True, env=peer_env())
        subprocess.run([str(venv / "bin/pip"), "install", "-q", f"rclip=={RCLIP_VERSION}"],
                       check=True, env=peer_env())
    code = ("import json, platform; from importlib.metadata import version as v; print(json.dumps("
            "{'python': platform.python_version(), 'installed': v('rclip'), "
            "'onnxruntime': v('onnxruntime'), 'numpy': v('numpy'), 'pillow': v('pillow')}))")
    versions = json.loads(subprocess.run([str(venv / "bin/python"), "-c", code], check=True,
                                         capture_output=True, text=True, env=peer_env()).stdout)
    if versions["installed"] != RCLIP_VERSION:
        sys.exit(f"{venv} has rclip {versions['installed']}, not {RCLIP_VERSION}")
    return versions


def prepare_models(folder: Path, name: str, venv: Path) -> dict:
    """The models' paths (see the module docstring), made by a child process if not ready."""
    ready = folder / "ready.json"
    if not ready.exists() or json.loads(ready.read_text())["model"] != name:
        print(f"exporting random {name} weights for both tools to {folder}", file=sys.stderr,
              flush=True)
        subprocess.run([sys.executable, "-m", "benchmarks.peer_model", str(folder), name,
                        str(venv)], check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(ready.read_text())


def rclip_datadir(models: dict, data_dir: Path) -> None:
    """A fresh ``$RCLIP_DATADIR`` whose model files link to the prepared ones."""
    data_dir.mkdir(parents=True)
    template = Path(models["rclip_template"])
    for entry in [MODEL_SUBDIR, VOCAB.split("/")[0], *LEGAL_FILES]:
        (data_dir / entry).symlink_to(template / entry)


def export(folder: Path, name: str, venv: Path) -> None:
    """Random weights -> safetensors + rclip's ONNX layout; checked through rclip; ready.json."""
    import warnings

    import numpy as np
    import open_clip
    import torch
    from safetensors.torch import load_file

    folder.mkdir(parents=True, exist_ok=True)
    weights = random_weights(name, folder).pretrained
    model = open_clip.create_model(name)
    model.load_state_dict(load_file(weights))
    model.eval()

    class Text(torch.nn.Module):
        def __init__(self, clip):
            super().__init__()
            self.clip = clip

        def forward(self, tokens):
            return self.clip.encode_text(tokens)

    template = folder / "rclip"
    (template / MODEL_SUBDIR).mkdir(parents=True, exist_ok=True)
    size, context = model.visual.image_size[0], model.context_length
    for module, example, file in [(model.visual, torch.randn(1, 3, size, size), "visual.onnx"),
                                  (Text(model), torch.zeros(1, context, dtype=torch.long),
                                   "textual.onnx")]:
        # not under no_grad: nn.MultiheadAttention's inference fast path does not export
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated, and says so
            torch.onnx.export(module, (example,), str(template / MODEL_SUBDIR / file),
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                              opset_version=18, dynamo=False)
    (template / VOCAB).parent.mkdir(exist_ok=True)
    (template / VOCAB).write_bytes(
        (Path(open_clip.__file__).parent / Path(VOCAB).name).read_bytes())
    for legal in LEGAL_FILES:
        (template / legal).write_text(f"Random weights of open_clip {name}, made offline by "
                                      "photofind's benchmarks/peer_model.py; not rclip's model.\n")

    photo, pixels_file = sorted(FLICKR.glob("*.jpg"))[0], folder / "check-pixels.npy"
    ours = json.loads(subprocess.run(
        [str(venv / "bin/python"), "-c", RCLIP_CHECK, TEXT_QUERY, str(photo), str(pixels_file)],
        check=True, capture_output=True, text=True,
        env=peer_env(RCLIP_DATADIR=str(template))).stdout)
    with torch.no_grad():
        text = model.encode_text(open_clip.get_tokenizer(name)([TEXT_QUERY]), normalize=True)
        image = model.encode_image(torch.from_numpy(np.load(pixels_file))[None], normalize=True)
    pixels_file.unlink()
    diffs = {kind: float(np.abs(np.array(ours[kind]) - ref[0].numpy()).max())
             for kind, ref in [("text", text), ("image", image)]}
    if max(diffs.values()) > 1e-4:
        sys.exit(f"rclip's embeddings with the exported towers differ from torch's: {diffs}")
    (folder / "ready.json").write_text(json.dumps({
        "model": name, "seed": 0, "torch": torch.__version__, "open_clip": open_clip.__version__,
        "safetensors": str(weights), "rclip_template": str(template),
        "files": [str(weights), *(str(template / MODEL_SUBDIR / f)
                                  for f in ("visual.onnx", "textual.onnx"))],
        "rclip_vs_torch_max_abs_diff": diffs}, indent=2) + "\n")


if __name__ == "__main__":
    export(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
