"""Files photofind writes for itself (trained adaptations, rerankers): their facts, recorded
when written, and the check made before they are used again.

A trained file is a few MB at most, so the whole of it is hashed: a truncated copy, garbage,
or another run's file under the same name is told apart from the one that was written, and
never loaded (safetensors' own errors on such files are tracebacks, not messages)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def file_facts(path: str | os.PathLike) -> dict:
    """Size and sha256 of a file, as recorded beside it when it is written."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"size": os.path.getsize(path), "sha256": digest.hexdigest()}


def facts_problem(path: str | os.PathLike, facts: dict | None) -> str | None:
    """Why ``path`` is not the file ``facts`` describe (None: it is). Files written before
    facts were recorded (``facts`` None) are taken as they are."""
    path = Path(path)
    if not path.is_file():
        return f"{path.name} is missing"
    if not facts:
        return None
    try:
        found = file_facts(path)
    except OSError as error:
        return f"{path.name} cannot be read ({error.strerror or error})"
    if found["size"] != facts.get("size"):
        return f"{path.name} is damaged ({found['size']:,} bytes, written as {facts.get('size'):,})"
    if found["sha256"] != facts.get("sha256"):
        return f"{path.name} is damaged (its contents changed since it was written)"
    return None
