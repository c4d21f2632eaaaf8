"""Build the bench model: a LiT-style open_clip model from two PyPI-shipped pretrained towers.

    python benchmarks/bench_model/build.py [--out DIR] [--force]

Idempotent: skips when the build in DIR is complete (its report is written last) and reuses the
cached training features when rebuilding. Default DIR: <repo>/.bench-cache/bench-model/.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    if not __package__:  # run as a script: make `benchmarks.bench_model` importable
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.bench_model.builder import main

    main()
