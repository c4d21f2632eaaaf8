"""Is a library root's folder there? A missing drive or share must hide its photos, never
delete them, so indexing and the watcher ask this before trusting an empty or absent folder."""

from __future__ import annotations

import os
from pathlib import Path

from photofind.library import paths
from photofind.library.catalog import Catalog

OFFLINE_PROBLEM = "offline: folder missing or empty; its photos are kept and come back when " \
                  "it returns"


def root_present(catalog: Catalog, root: str | os.PathLike) -> bool:
    """Is a root's folder there? Missing, unreadable, or empty while the catalog still
    lists photos in it (the bare mount point of an unmounted drive or share) is absent."""
    try:
        with os.scandir(root) as entries:
            if next(entries, None) is not None:
                return True
    except OSError:
        return False
    return not catalog.has_photos_under(root)


def root_reachable(catalog: Catalog, target: Path, problems: list[tuple[str, str]]) -> bool:
    """For a known root: mark it offline (keeping its photos) when its folder is absent,
    online when present, and say so in ``problems``. Other targets pass."""
    text = paths.to_text(target)
    root = next(((rid, online) for rid, p, _, online in catalog.roots() if p == text), None)
    if root is None:
        return True
    present = root_present(catalog, target)
    if present != root[1]:
        catalog.set_root_online(root[0], present)
    if not present:
        problems.append((text, OFFLINE_PROBLEM))
    return present
