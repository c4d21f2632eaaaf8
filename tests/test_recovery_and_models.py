"""The index is a cache of the catalog; models load only through safe, real paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from photofind.embed.model import ModelSpec, ModelUnavailable, load_model
from photofind.services.library import PhotoLibrary

from conftest import make_photos
from tinymodel import TINY_CNN, write_tiny_model


@pytest.mark.parametrize("damage", ["delete", "corrupt", "stale"])
def test_index_rebuilt_from_catalog_without_reencoding(tmp_path, tiny_model, damage):
    make_photos(tmp_path / "lib", 10)
    lib = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=0)
    lib.index([tmp_path / "lib"])
    index_file = lib.index_file()
    expected = [r.path for r in lib.search("a dog", k=5)]
    lib.close()
    if damage == "delete":
        index_file.unlink()
    elif damage == "corrupt":
        index_file.write_bytes(b"\0garbage" * 100)
    else:  # catalog changed after the index was saved (e.g. crash before the index write)
        catalog = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=0)
        catalog.catalog.set_meta("embedding_version", "999")
        catalog.close()
    lib = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=0)
    assert [r.path for r in lib.search("a dog", k=5)] == expected
    assert lib.index_rebuilt and lib.embedder.images_encoded == 0
    assert index_file.exists() and json.loads(index_file.with_suffix(".json").read_text())
    lib.close()


def test_model_change_reembeds_never_mixes(tmp_path, tiny_model):
    make_photos(tmp_path / "lib", 6)
    lib = PhotoLibrary(tmp_path / "data", model=tiny_model, workers=0)
    lib.index([tmp_path / "lib"])
    lib.close()
    config, weights = write_tiny_model(tmp_path / "other", seed=1)
    other = ModelSpec("tiny-vit", str(weights), str(config))
    lib = PhotoLibrary(tmp_path / "data", model=other, workers=0)
    report = lib.index([tmp_path / "lib"])
    assert report.updated == 6 and lib.embedder.images_encoded == 6
    assert len(lib.catalog.model_keys()) == 1 and lib.model_key in lib.catalog.model_keys()
    lib.close()


def test_cnn_tower_and_plain_checkpoint_file(tmp_path):
    config, weights = write_tiny_model(tmp_path, TINY_CNN, name="tiny-cnn")
    loaded = load_model(ModelSpec("tiny-cnn", str(weights), str(config)), "cpu")
    assert loaded.preprocess_cfg["size"] in (64, (64, 64))
    # the same weights as a torch .pt file load with weights_only=True
    from safetensors.torch import load_file

    torch.save(load_file(str(weights)), tmp_path / "tiny.pt")
    again = load_model(ModelSpec("tiny-cnn", str(tmp_path / "tiny.pt"), str(config)), "cpu")
    assert again.key.split("|")[0] == loaded.key.split("|")[0] and again.key != loaded.key


def test_pickled_code_in_a_checkpoint_is_refused(tmp_path, tiny_model):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"state_dict": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ModelUnavailable):
        load_model(ModelSpec("tiny-vit", str(tmp_path / "evil.pt"), tiny_model.config), "cpu")


def test_unknown_tag_and_missing_file_are_clear(tmp_path):
    with pytest.raises(ModelUnavailable, match="Known tags"):
        load_model(ModelSpec("ViT-B-32", "no-such-tag"), "cpu")
    with pytest.raises(ModelUnavailable, match="not found"):
        load_model(ModelSpec("ViT-B-32", str(tmp_path / "missing.safetensors")), "cpu")


def test_named_model_loads_from_hugging_face_cache_offline(tmp_path):
    """ViT-B-32 / laion2b_s34b_b79k through open_clip's real hub path: random weights of that
    architecture placed in a temporary HF cache in the layout huggingface_hub reads."""
    script = textwrap.dedent("""
        import os, json, hashlib, pathlib, open_clip
        from safetensors.torch import save_file
        hub = pathlib.Path(os.environ["HF_HOME"]) / "hub"
        repo = hub / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
        model = open_clip.create_model("ViT-B-32")
        blob = repo / "blobs" / "tmp"
        blob.parent.mkdir(parents=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(blob))
        digest = hashlib.sha256(blob.read_bytes()).hexdigest()
        blob = blob.rename(blob.parent / digest)
        snap = repo / "snapshots" / ("0" * 40)
        snap.mkdir(parents=True)
        (snap / "open_clip_model.safetensors").symlink_to(blob)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text("0" * 40)
        from photofind.embed.model import load_model, ModelSpec
        loaded = load_model(ModelSpec(), "cpu")
        print(json.dumps({"key": loaded.key, "digest": digest,
                          "size": loaded.preprocess_cfg["size"]}))
    """)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["key"] == f"ViT-B-32|{out['digest'][:16]}" and out["size"] in (224, [224, 224])


def test_offline_without_cache_says_what_to_do(tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    script = ("from photofind.embed.model import *\n"
              "try:\n    load_model(ModelSpec(), 'cpu')\n"
              "except ModelUnavailable as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert "could not reach the model's download server" in done.stdout
    assert "choose a weights file you have" in done.stdout


def test_loading_skips_the_random_init_and_keeps_every_weight(tiny_model, monkeypatch):
    """A model loaded for training draws no random numbers for weights its file overwrites
    (about 0.6 s of a ViT-B-32 load); every tensor still equals the file's."""
    from safetensors.torch import load_file

    drawn = []
    original = torch.nn.init.normal_
    monkeypatch.setattr(torch.nn.init, "normal_",
                        lambda t, *a, **k: drawn.append(t.shape) or original(t, *a, **k))
    loaded = load_model(tiny_model, "cpu")
    assert drawn == []
    saved = load_file(tiny_model.pretrained)
    state = loaded.model.state_dict()
    assert set(saved) <= set(state)
    assert all(torch.equal(state[name], tensor) for name, tensor in saved.items())
    torch.nn.init.normal_(torch.empty(3))  # restored afterwards
    assert len(drawn) == 1


def test_skipping_random_init_leaves_other_threads_random():
    """The skip holds only in the thread that builds the model: a training thread running
    beside a load still initialises its own new layers."""
    import threading

    from photofind.embed.model import no_random_init

    inside, outside = threading.Event(), threading.Event()
    seen = {}

    def loader():
        with no_random_init():
            seen["loader"] = torch.nn.init.normal_(torch.zeros(64)).abs().sum().item()
            inside.set()
            outside.wait(10)

    thread = threading.Thread(target=loader)
    thread.start()
    assert inside.wait(10)
    seen["other"] = torch.nn.init.normal_(torch.zeros(64)).abs().sum().item()
    outside.set()
    thread.join(10)
    assert seen["loader"] == 0.0 and seen["other"] > 0.0
