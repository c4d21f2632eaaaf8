"""Getting a named model's weights from the Hugging Face hub into its cache, once, with
progress a window can show and a cancel it can press.

huggingface_hub does the work (resuming a cut download, the cache layout, the mirror in
``HF_ENDPOINT``); this module asks it the way open_clip would (the ``.safetensors`` twin
first, then the file the tag names) and turns its tqdm updates into ``progress(done,
total)`` calls. ``progress`` may raise ``DownloadCancelled`` to stop (at the next chunk of
10 MB; huggingface_hub then drops the partial file, so a new try starts over).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from photofind.embed.spec import ModelSpec, ModelUnavailable

Progress = Callable[[int, int], None]  # (bytes done, bytes in all; 0 when not known yet)


class DownloadCancelled(Exception):
    """The person stopped the download."""


@dataclass(frozen=True)
class HubWeights:
    """Where a named model's weights live on the hub, in the order open_clip tries them."""

    repo_id: str
    filenames: tuple[str, ...]

    def cached(self) -> Path | None:
        """The file if the cache already has it (no network)."""
        from huggingface_hub import try_to_load_from_cache

        for name in self.filenames:
            found = try_to_load_from_cache(self.repo_id, name)
            if isinstance(found, str) and os.path.isfile(found):
                return Path(found)
        return None


def hub_weights(tag_cfg: dict) -> HubWeights | None:
    """The hub location of an open_clip weights tag; None for tags served from a plain URL.
    Mirrors open_clip's ``download_pretrained_from_hf``: a tag naming no file means
    ``open_clip_pytorch_model.bin``, and a ``.bin``/``.pth`` file's ``.safetensors`` twin
    is tried first."""
    if not tag_cfg.get("hf_hub"):
        return None
    repo_id, filename = os.path.split(tag_cfg["hf_hub"])
    filename = filename or "open_clip_pytorch_model.bin"
    if filename == "open_clip_pytorch_model.bin":
        return HubWeights(repo_id, ("open_clip_model.safetensors", filename))
    if filename.endswith((".bin", ".pth")):
        return HubWeights(repo_id, (filename[:-4] + ".safetensors", filename))
    return HubWeights(repo_id, (filename,))


def needs_download(spec: ModelSpec) -> HubWeights | None:
    """What must be downloaded before ``spec`` can load; None when nothing must (a local
    file, weights already cached, or a name the app will explain as unknown)."""
    if not spec.pretrained or spec.config or Path(spec.pretrained).expanduser().is_file():
        return None
    import open_clip

    tag_cfg = open_clip.get_pretrained_cfg(spec.name, spec.pretrained)
    where = hub_weights(tag_cfg) if tag_cfg else None
    return where if where is not None and where.cached() is None else None


def download(where: HubWeights, progress: Progress | None = None) -> Path:
    """Fetch the weights into the Hugging Face cache; their path. ``ModelUnavailable`` with
    the reason in words when the hub cannot be reached or has none of the files."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    last: Exception | None = None
    for name in where.filenames:
        try:
            return Path(hf_hub_download(where.repo_id, name,
                                        endpoint=os.environ.get("HF_ENDPOINT") or None,
                                        tqdm_class=_reporting(progress) if progress else None))
        except DownloadCancelled:
            raise
        except LocalEntryNotFoundError as exc:  # the hub was not reached (and no cache)
            last = exc
            break
        except EntryNotFoundError as exc:  # the safetensors twin may not exist: next one
            last = exc
        except Exception as exc:  # noqa: BLE001 - offline, DNS, proxy, HTTP errors
            last = exc
            break
    reason = f"{type(last).__name__}: {str(last).splitlines()[0] if str(last) else ''}"
    if isinstance(last, EntryNotFoundError) and not isinstance(last, LocalEntryNotFoundError):
        said = (f"The download server has no weights at {where.repo_id}. Choose another model "
                "in Settings, or a weights file you have.")
    else:  # offline, refused, timed out: huggingface_hub says "cannot find … on the Hub"
        said = ("This computer could not reach the model's download server (Hugging Face). "
                "Connect to the internet and try again, or choose a weights file you have.")
    raise ModelUnavailable(f"{said}\n\nDetails: {reason}") from last


def _reporting(progress: Progress):
    """A tqdm class that draws nothing and hands every update to ``progress``."""
    from tqdm.auto import tqdm

    class Reporting(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "disable": True})
            self.done = int(kwargs.get("initial") or 0)  # a resumed download starts there
            progress(self.done, int(kwargs.get("total") or 0))

        def update(self, n=1):
            self.done += int(n or 0)
            progress(self.done, int(self.total or 0))

    return Reporting
