"""The first run's model download against a hub on localhost (tests/fake_hub.py), through
huggingface_hub itself: what must be downloaded, progress, cancel, offline; and in the app,
the dialog with its progress, a folder added meanwhile that waits and is then indexed."""

from __future__ import annotations

import os

import pytest
from fake_hub import FakeHub

from photofind.embed.download import DownloadCancelled, download, needs_download
from photofind.embed.spec import ModelSpec, ModelUnavailable

REPO = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"  # where open_clip's default tag lives
DEFAULT = ModelSpec("ViT-B-32", "laion2b_s34b_b79k")
SIZE = 24_000_000  # three of huggingface_hub's 10 MB chunks: progress has steps


@pytest.fixture
def online(tmp_path, monkeypatch):
    """An empty Hugging Face cache in tmp, and the hub reachable (the suite runs offline)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path


def serve(monkeypatch, delay_s: float = 0.0) -> tuple[FakeHub, bytes]:
    weights = os.urandom(SIZE)
    hub = FakeHub({(REPO, "open_clip_pytorch_model.bin"): weights}, delay_s=delay_s)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    return hub, weights


def test_the_default_model_is_downloaded_once_with_progress(online, monkeypatch):
    hub, weights = serve(monkeypatch)
    where = needs_download(DEFAULT)
    assert where is not None and where.repo_id == REPO
    assert where.filenames == ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    seen = []
    path = download(where, lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == weights
    assert seen[0] == (0, SIZE) and seen[-1] == (SIZE, SIZE)
    assert any(0 < done < SIZE for done, _ in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert needs_download(DEFAULT) is None  # cached: nothing more to fetch
    gets = [path for method, path, _ in hub.requests if method == "GET" and REPO in path]
    assert len(gets) == 1  # the .safetensors twin does not exist here: asked once (HEAD)
    hub.close()


def test_cancel_and_offline_say_what_happened(online, monkeypatch, tmp_path):
    hub, weights = serve(monkeypatch, delay_s=0.001)
    where = needs_download(DEFAULT)

    def stop_after_a_chunk(done: int, _total: int) -> None:
        if done > 0:
            raise DownloadCancelled()

    with pytest.raises(DownloadCancelled):
        download(where, stop_after_a_chunk)
    assert needs_download(DEFAULT) is not None  # nothing half-done counts as downloaded
    hub.close()
    # offline, as HF_HUB_OFFLINE declares it (an unreachable hub says the same, after
    # huggingface_hub's five retries: about 46 s, too slow for this suite)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailable, match="could not reach the model's download server"):
        download(where, lambda *_: None)
    assert needs_download(ModelSpec("ViT-B-32", str(tmp_path / "mine.safetensors"),
                                    config=None)) is None  # a file is never downloaded


def test_a_hub_without_the_files_says_so(online, monkeypatch):
    hub = FakeHub({})
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    with pytest.raises(ModelUnavailable, match="The download server has no weights at " + REPO):
        download(needs_download(DEFAULT))
    heads = [path for method, path, _ in hub.requests if method == "HEAD"]
    assert [p.rsplit("/", 1)[1] for p in heads] == ["open_clip_model.safetensors",
                                                    "open_clip_pytorch_model.bin"]
    hub.close()
