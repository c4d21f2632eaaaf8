"""Load an open_clip model: a named architecture + weights tag (downloaded into the Hugging
Face cache with a progress bar), a local weights file, or a custom config JSON + weights.

Weights are always loaded safely (safetensors, or torch.load with ``weights_only``). The
*model key* (architecture + weights digest) is stored with every embedding so that a model
change triggers re-embedding instead of silently mixing vector spaces.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import pickle
import re
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

import torch

from photofind.embed.download import download, hub_weights
from photofind.embed.spec import (  # noqa: F401 - re-exported
    DEFAULT_MODEL,
    DEFAULT_PRETRAINED,
    ModelSpec,
    ModelUnavailable,
)

_HF_PATH_KEYS = ("hf_model_name", "hf_tokenizer_name")


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    preprocess_cfg: dict
    key: str
    spec: ModelSpec
    weights_path: Path
    device: torch.device


def pick_device(preference: str | None = None) -> torch.device:
    """``auto`` (or None) picks CUDA, then Apple MPS, then CPU."""
    if preference and preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def load_model(spec: ModelSpec, device: str | torch.device | None = None) -> LoadedModel:
    import open_clip  # slow import: only when a model is really needed

    device = device if isinstance(device, torch.device) else pick_device(device)
    check_model_name(spec)
    weights = resolve_weights(spec)
    name, identity = spec.name, spec.name
    tag_cfg = {} if spec.config else (open_clip.get_pretrained_cfg(spec.name, spec.pretrained)
                                      or {})
    # a tag's own preprocessing and activation travel with the tag, not with the file
    force_pp = {k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode")
                if k in tag_cfg} or None
    if spec.config:
        name, force_pp, identity = register_custom_config(Path(spec.config))
    if problem := weights_file_problem(weights):
        raise ModelUnavailable(f"Cannot load {weights}: {problem}.")
    try:
        with no_random_init():  # the checkpoint sets every weight right after
            model = open_clip.create_model(name, pretrained=str(weights), device=device,
                                           force_preprocess_cfg=force_pp, weights_only=True,
                                           force_quick_gelu=bool(tag_cfg.get("quick_gelu")))
    except Exception as exc:  # noqa: BLE001 - torch, safetensors and open_clip raise many kinds
        raise ModelUnavailable(_load_failure(exc, weights, spec)) from exc
    model.eval().requires_grad_(False)
    tokenizer = open_clip.get_tokenizer(name)
    preprocess_cfg = open_clip.get_model_preprocess_cfg(model)
    key = f"{identity}|{weights_digest(weights)[:16]}"
    return LoadedModel(model, tokenizer, preprocess_cfg, key, spec, weights, device)


# torch.nn.init's filling functions: while a model is built they draw the random numbers
# its checkpoint then overwrites (open_clip loads strictly: every weight is in it)
_INIT_FILLS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
               "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
               "orthogonal_")
_quiet = threading.local()
_patch_lock = threading.Lock()
_users = 0
_originals: dict = {}


@contextmanager
def no_random_init() -> Iterator[None]:
    """Build a model without its random initialisation: in this thread, while the block
    runs, the init functions leave tensors as allocated (other threads still get random
    numbers). Only for a model whose every weight is loaded right after."""
    global _users
    with _patch_lock:
        if _users == 0:
            for name in _INIT_FILLS:
                if (original := getattr(torch.nn.init, name, None)) is not None:
                    _originals[name] = original
                    setattr(torch.nn.init, name, _skipping(original))
        _users += 1
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = False
        with _patch_lock:
            _users -= 1
            if _users == 0:
                for name, original in _originals.items():
                    setattr(torch.nn.init, name, original)
                _originals.clear()


def _skipping(original):
    @functools.wraps(original)
    def fill(tensor, *args, **kwargs):
        return tensor if getattr(_quiet, "on", False) else original(tensor, *args, **kwargs)
    return fill


def check_model_name(spec: ModelSpec) -> None:
    """An architecture name open_clip does not know is the problem to report, not the weights
    or the tag that would otherwise fail with it. (A custom config names its own; ``hf-hub:``
    and ``local-dir:`` names are open_clip's to resolve.)"""
    import open_clip

    if spec.config or ":" in spec.name or open_clip.get_model_config(spec.name) is not None:
        return
    known = open_clip.list_models()
    by_case = {name.casefold(): name for name in known}
    close = [by_case[name] for name in
             difflib.get_close_matches(spec.name.casefold(), list(by_case), n=3, cutoff=0.6)]
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    examples = [name for name in (DEFAULT_MODEL, "ViT-B-16", "ViT-L-14", "RN50") if name in known]
    raise ModelUnavailable(
        f"Unknown model '{spec.name}': {hint}open_clip knows {len(known)} architectures, e.g. "
        f"{', '.join(examples)} (all: python3 -c \"import open_clip; "
        f"print(open_clip.list_models())\"); for your own architecture give --model-config.")


_TORCH_ZIP_MEMBER = re.compile(r"(?:^|/)(?:data|constants)\.pkl$")


def weights_file_problem(weights: Path) -> str | None:
    """Why ``weights`` cannot be a weights file, judged from its structure without loading
    it; None when it may be one (loading then has the last word). Without this, random bytes
    given to torch's safe loader read as "pickled code", and a damaged safetensors file fails
    deep inside open_clip."""
    suffix = weights.suffix.lower()
    if suffix in (".npz", ".npy"):  # big_vision weights: open_clip reads them itself
        return None
    if suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(weights), framework="pt") as handle:  # reads the header only
                empty = not handle.keys()
        except (SafetensorError, OSError) as exc:
            return f"it is not a valid safetensors file (damaged or incomplete download?): {exc}"
        return "it is a safetensors file without any weights in it" if empty else None
    try:
        if zipfile.is_zipfile(weights):  # torch's format since 1.6, TorchScript archives too
            with zipfile.ZipFile(weights) as archive:
                if any(_TORCH_ZIP_MEMBER.search(name) for name in archive.namelist()):
                    return None
        else:
            with open(weights, "rb") as handle:  # torch's legacy format: a pickle stream
                head = handle.read(2)
            if head[:1] == pickle.PROTO and head[1:] and 2 <= head[1] <= pickle.HIGHEST_PROTOCOL:
                return None
    except (OSError, zipfile.BadZipFile) as exc:
        return f"it cannot be read: {exc}"
    return ("it is not a model checkpoint (not a PyTorch or safetensors weights file; "
            "damaged, incomplete or another kind of file?)")


def _load_failure(exc: Exception, weights: Path, spec: ModelSpec) -> str:
    """What went wrong when open_clip loaded ``weights`` into ``spec``'s model, in a line."""
    from safetensors import SafetensorError

    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError):
        if "GLOBAL" in text:  # torch's weights-only loader met a reference to code
            return (f"Refusing to load {weights}: it holds pickled code, not just weights "
                    "(only safetensors or weights-only torch files are loaded).")
        return f"Cannot load {weights}: it is not a model checkpoint that can be read safely."
    if isinstance(exc, SafetensorError) or "PytorchStreamReader" in text:
        return f"Cannot load {weights}: the file is damaged ({_first_line(text)})."
    if isinstance(exc, AssertionError) or "state_dict" in text:
        # open_clip asserts on resized position embeddings; torch lists every key that differs
        return (f"The weights in {weights} do not fit the model {spec.describe()}: they are of "
                f"another architecture ({_mismatch(text)}).")
    return f"Could not load {spec.describe()}: {type(exc).__name__}: {_first_line(text)}"


def _mismatch(text: str) -> str:
    """torch's report of a state dict that does not fit (one key per weight, often hundreds),
    summed up: how many keys are missing, extra or of another shape, with one example each."""
    parts = []
    for label, pattern in (("missing", r"Missing key\(s\) in state_dict: (.*)"),
                           ("not in the model", r"Unexpected key\(s\) in state_dict: (.*)")):
        if found := re.search(pattern, text):
            keys = re.findall(r'"([^"]+)"', found.group(1))
            parts.append(f"{len(keys)} weights {label}, e.g. {keys[0]}" if keys else label)
    shapes = re.findall(r"size mismatch for ([^:]+):", text)
    if shapes:
        parts.append(f"{len(shapes)} of another shape, e.g. {shapes[0]}")
    return "; ".join(parts) or _first_line(text)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""


def resolve_weights(spec: ModelSpec) -> Path:
    """A local weights file, or the cached/downloaded file for an open_clip weights tag."""
    import open_clip

    if not spec.pretrained:
        raise ModelUnavailable("No weights given: name an open_clip weights tag or a file.")
    candidate = Path(spec.pretrained).expanduser()
    if candidate.is_file():
        return candidate
    if spec.config or os.sep in spec.pretrained or candidate.suffix:
        raise ModelUnavailable(f"Weights file not found: {candidate}")
    tag_cfg = open_clip.get_pretrained_cfg(spec.name, spec.pretrained)
    if not tag_cfg:
        known = ", ".join(open_clip.list_pretrained_tags_by_model(spec.name)) or "none"
        raise ModelUnavailable(
            f"Unknown weights '{spec.pretrained}' for {spec.name}. Known tags: {known}.")
    cached = cached_weights(tag_cfg)
    if cached is not None:
        return cached
    where = hub_weights(tag_cfg)
    if where is not None:  # into the Hugging Face cache, with huggingface_hub's progress bar
        return download(where)
    try:  # a tag served from a plain URL
        return Path(open_clip.download_pretrained(tag_cfg))
    except Exception as exc:  # noqa: BLE001 - network/hub errors come in many types
        raise ModelUnavailable(
            f"Could not download the weights for {spec.describe()} and they are not in the "
            f"local cache. Connect to the internet once, or choose a local weights file. "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc


def cached_weights(tag_cfg: dict) -> Path | None:
    """The weights file for an open_clip tag if the Hugging Face cache already has it
    (checked without touching the network, so offline start-up is instant)."""
    where = hub_weights(tag_cfg)
    return where.cached() if where is not None else None


def register_custom_config(config_path: Path) -> tuple[str, dict | None, str]:
    """Register a custom open_clip config under a unique name; returns
    (name, preprocess overrides, identity). Relative Hugging Face paths inside the config
    are resolved against the JSON's folder, so a model folder can move freely."""
    try:
        raw = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"Cannot read model config {config_path}: {exc}") from exc
    model_cfg = deepcopy(raw.get("model_cfg", raw))
    preprocess = raw.get("preprocess_cfg") or model_cfg.pop("preprocess_cfg", None)
    model_cfg.pop("preprocess_cfg", None)
    text_cfg = model_cfg.get("text_cfg", {})
    for key in _HF_PATH_KEYS:
        value = text_cfg.get(key)
        if value and not os.path.isabs(value) and (config_path.parent / value).exists():
            text_cfg[key] = str((config_path.parent / value).resolve())
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:12]
    stem = re.sub(r"[^A-Za-z0-9_.-]", "-", config_path.stem)
    name = f"custom-{stem}-{digest}"
    add_model_config(name, model_cfg)
    return name, preprocess, f"custom:{stem}:{digest}"


def add_model_config(name: str, model_cfg: dict) -> None:
    """Make ``model_cfg`` known to open_clip as ``name``, through its public
    ``add_model_config``, which reads config files named after their model: the file is
    written to a temporary folder, gone again once open_clip has read it. (Each call re-reads
    every registered config, so an unchanged one is not registered again.)"""
    import open_clip

    missing = [key for key in ("embed_dim", "vision_cfg", "text_cfg") if key not in model_cfg]
    if missing:
        raise ModelUnavailable(f"Not an open_clip model config ({name}): it lacks "
                               f"{', '.join(missing)}")
    if open_clip.get_model_config(name) == model_cfg:
        return
    with tempfile.TemporaryDirectory(prefix="photofind-config-") as folder:
        path = Path(folder) / f"{name}.json"
        path.write_text(json.dumps(model_cfg))
        open_clip.add_model_config(path)


_DIGESTS: dict[tuple[str, int, float], str] = {}


def weights_digest(path: Path) -> str:
    """sha256 of the weights. Hugging Face cache blobs are named by it already."""
    real = Path(os.path.realpath(path))
    if real.parent.name == "blobs" and re.fullmatch(r"[0-9a-f]{64}", real.name):
        return real.name
    stat = real.stat()
    cache_key = (str(real), stat.st_size, stat.st_mtime)
    if cache_key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(real, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[cache_key] = digest.hexdigest()
    return _DIGESTS[cache_key]
