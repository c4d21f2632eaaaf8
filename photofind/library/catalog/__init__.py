"""The SQLite catalog: roots, photos, per-file errors, captions and tags, float16 embeddings.

One file under the data dir, WAL mode, versioned schema with forward migrations
(``schema``). Every write is a transaction, so a crash leaves either the old or the new state.
``embedding_version`` increases with every change to stored embeddings: the HNSW index
records the version it was built from and is rebuilt from here when they differ. All SQL of
photofind lives in this package (``store.Catalog``'s methods, ``criteria`` for filters).
"""

from photofind.library.catalog.rows import PhotoRow
from photofind.library.catalog.store import Catalog, CatalogDamaged, CatalogTooNew

__all__ = ["Catalog", "CatalogDamaged", "CatalogTooNew", "PhotoRow"]
