"""Where the catalog says a library's trained files are (its adaptation, its reranker), and
whether they may be used.

Paths are stored relative to the data dir, so the library keeps its adaptation whatever the
working directory, and when the data dir is moved or restored elsewhere. Catalogs written
before kept paths as given (``d2/adapt/…``, relative to a working directory long gone); the
trained files always lived under the data dir, so such a path is found again by its part
from ``adapt/`` on and rewritten.

A file is used only when it is the one that was written (``library.files``): a missing,
truncated or garbage file gives one warning and the library goes on with the base model, never
a traceback at every search.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path, PurePath

from photofind.library.files import facts_problem

log = logging.getLogger(__name__)

ADAPTATION, RERANK = "adaptation", "rerank"
_FOLDERS = ("adapt", "adapt-eval")  # where the services write trained files, in the data dir


def meta_key(kind: str, model_key: str) -> str:
    return f"{kind}:{model_key}"


def remember(state, kind: str, model_key: str, path: Path | None) -> None:
    """Record (or with None, clear) the trained file of ``kind`` for ``model_key``."""
    text = ""
    if path is not None:
        path = Path(path).absolute()
        try:
            text = path.relative_to(state.data_dir).as_posix()
        except ValueError:  # outside the data dir (a shared folder): kept absolute
            text = str(path)
    state.catalog.set_meta(meta_key(kind, model_key), text)


def recorded(state, kind: str, model_key: str) -> bool:
    return bool(state.catalog.get_meta(meta_key(kind, model_key)))


def locate(state, kind: str, model_key: str) -> Path | None:
    """The recorded file's path (which may be missing), or None when nothing is recorded."""
    text = state.catalog.get_meta(meta_key(kind, model_key))
    if not text:
        return None
    stored = PurePath(text)
    if stored.is_absolute():
        return Path(stored)
    path = state.data_dir / stored
    if not path.exists():
        legacy = _legacy(state.data_dir, stored)
        if legacy is not None:
            remember(state, kind, model_key, legacy)
            log.info("photofind: found the %s at %s (catalog updated)", kind, legacy)
            return legacy
    return path


def _legacy(data_dir: Path, stored: PurePath) -> Path | None:
    """An old catalog's cwd-relative path (``d2/adapt/x.safetensors``) inside the data dir."""
    parts = stored.parts
    for i, part in enumerate(parts):
        if part in _FOLDERS:
            candidate = data_dir.joinpath(*parts[i:])
            if candidate.exists():
                return candidate
    return None


def usable(state, kind: str, model_key: str, what: str) -> Path | None:
    """The recorded file if it can be used; otherwise None, after one warning saying why and
    what the library does instead (``what``), also kept in ``state.warnings``."""
    path = locate(state, kind, model_key)
    if path is None:
        return None
    problem = problem_with(path)
    if problem:
        warn(state, f"{problem}; {what}")
        return None
    return path


def problem_with(path: Path) -> str | None:
    """Why a trained file and its JSON description cannot be used (None: they can)."""
    description = path.with_suffix(".json")
    try:
        meta = json.loads(description.read_text())
    except FileNotFoundError:
        return f"{description.name} is missing"
    except (OSError, ValueError) as error:
        return f"{description.name} is unreadable ({error})"
    if not isinstance(meta, dict):
        return f"{description.name} is unreadable (not a JSON object)"
    return facts_problem(path, meta.get("weights"))


def warn(state, message: str) -> None:
    """A problem the person should hear about once: logged and listed in ``status``."""
    if message not in state.warnings:
        state.warnings.append(message)
        log.warning("photofind: %s", message)


def problems(state) -> list[str]:
    """Every recorded trained file that cannot be used, checked without loading a model
    (``status``), with the warnings met so far."""
    found = list(state.warnings)
    for kind in (ADAPTATION, RERANK):
        for key, text in state.catalog.meta_with_prefix(f"{kind}:").items():
            path = locate(state, kind, key.removeprefix(f"{kind}:")) if text else None
            problem = problem_with(path) if path is not None else None
            if problem and not any(problem in seen for seen in found):
                found.append(f"{problem} (the {kind} is not used)")
    return found
