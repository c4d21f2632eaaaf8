"""Application services: what the CLI and the GUI do with a library, on top of the layers below.

- ``library.PhotoLibrary``: the facade both faces use (index, search, status, …);
- ``state``: the catalog plus the lazily loaded model, vector index, token store, reranker;
- ``indexing``, ``live``, ``roots``: bring the catalog up to date, apply a watcher's changes;
- ``searching``, ``reports``: answer queries, describe the library and its photos;
- ``watch``: keep a library in step with its folders; ``adapting``: the adaptation job;
- ``evaluate``: retrieval quality through all of the above; ``options``: open a library from
  command-line or stored options.

Nothing is imported here, so that importing one service does not load the others.
"""
