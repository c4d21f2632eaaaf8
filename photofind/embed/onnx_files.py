"""The exported-model cache in the data dir, readable without torch.

``<data dir>/onnx/<key digest>/`` holds one model's graphs and ``manifest.json``: the model
key, the preprocessing and tokenizer, and for each graph its size and a quick digest. The
manifest is written last and atomically, so a half-written export is never described by it;
a graph whose size or digest no longer matches (truncated, replaced, another model's) is not
used but rebuilt. ``specs/`` maps what the user chose (a ``ModelSpec``) to the key, with the
facts (path, size, mtime) of the files the key was computed from.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from photofind.embed.spec import ModelSpec

MANIFEST = "manifest.json"
FORMAT = 1  # bump when the graphs' inputs or outputs change
_EDGE = 1 << 20


def quick_digest(path: Path) -> str:
    """sha256 of the size and the first and last MiB: catches truncation and swapped files
    in a millisecond, where hashing a 350 MB graph at every cold start would cost ~0.5 s."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    digest.update(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(_EDGE))
        if size > _EDGE:
            handle.seek(max(_EDGE, size - _EDGE))
            digest.update(handle.read(_EDGE))
    return digest.hexdigest()[:32]


def file_matches(path: Path, facts: dict) -> bool:
    try:
        return path.stat().st_size == facts["size"] and quick_digest(path) == facts["digest"]
    except (OSError, KeyError, TypeError):
        return False


def source_facts(path: str | os.PathLike) -> dict:
    stat = os.stat(path)
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class ExportCache:
    """One model's folder of exported graphs, found from its spec without torch.

    Graphs live under the model key (``<root>/<key digest>/``), so the same weights at two
    paths, or in two libraries sharing a cache, are exported once; ``<root>/specs/`` maps a
    spec to its key for as long as the files the key came from are unchanged."""

    def __init__(self, root: Path, spec: ModelSpec):
        self.root, self.spec = Path(root), spec
        self.key: str | None = None

    @property
    def spec_path(self) -> Path:
        slug = hashlib.sha256(json.dumps([FORMAT, asdict(self.spec)], sort_keys=True).encode())
        return self.root / "specs" / f"{slug.hexdigest()[:16]}.json"

    @property
    def folder(self) -> Path:
        if self.key is None:
            raise RuntimeError("the model key is not known yet")
        return self.root / hashlib.sha256(self.key.encode()).hexdigest()[:16]

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def known_key(self) -> str | None:
        """The spec's model key if its files (weights, config) are unchanged since."""
        try:
            entry = json.loads(self.spec_path.read_text())
            if entry.get("spec") != asdict(self.spec):
                return None
            for facts in entry["sources"]:
                if source_facts(facts["path"]) != facts:
                    return None
            return entry["key"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remember(self, key: str, sources: list[dict]) -> None:
        _write_json(self.spec_path, {"spec": asdict(self.spec), "key": key, "sources": sources})

    def read(self) -> dict | None:
        """The manifest of ``self.key``'s export, if there is a readable one."""
        try:
            manifest = json.loads(self.manifest_path.read_text())
            if manifest.get("format") != FORMAT or manifest.get("key") != self.key:
                return None
            return manifest
        except (OSError, ValueError, KeyError, TypeError, RuntimeError):
            return None

    def write(self, manifest: dict) -> None:
        _write_json(self.manifest_path, {**manifest, "format": FORMAT, "key": self.key})

    def path(self, name: str) -> Path:
        return self.folder / name

    def intact(self, entry: dict | None, *names: str) -> bool:
        """Are a graph entry's files (``file``, plus ``table`` for the text graph) whole?"""
        if not entry:
            return False
        checks = [(entry["file"], entry)]
        if "table" in names:
            checks.append((entry["table"], entry["table_facts"]))
        return all(file_matches(self.path(file), facts) for file, facts in checks)


def _write_json(path: Path, value: dict) -> None:
    """Atomic: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w") as out:
        json.dump(value, out, indent=2)
    os.replace(name, path)
