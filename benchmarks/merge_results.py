"""Merge `photofind eval` result files into one JSON, markdown table and PNG chart.

Quality runs are long, so variants often come from separate runs; a later file's run replaces
an earlier one with the same protocol, condition, variant and seed. Usage:
    python benchmarks/merge_results.py OUT_STEM old.json newer.json ...
writes OUT_STEM.json, OUT_STEM.md and OUT_STEM.png and prints the table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from photofind.services import evaluate

KEYS = {"captioned": ["R@1", "R@5", "R@10", "median_rank"],
        "tagged": ["mAP_word", "mAP_template", "mAP_template_no_distractors", "P@10_template"]}
ORDER = ["zero-shot", "text", "visual", "both", "adapter", "concepts", "text+adapter+concepts"]


def _key(run: dict) -> tuple:
    return run["protocol"], run.get("condition", ""), run["variant"], run["seed"]


def _rank(run: dict) -> tuple:
    variant = run["variant"].removesuffix("+rerank")
    place = ORDER.index(variant) if variant in ORDER else len(ORDER)
    return run.get("condition", "") != "as written", place, run["variant"], run["seed"]


def main() -> None:
    stem, files = Path(sys.argv[1]), sys.argv[2:]
    runs: dict[tuple, dict] = {}
    for name in files:
        for run in json.loads(Path(name).read_text())["runs"]:
            runs[_key(run)] = run
    rows = sorted(runs.values(), key=_rank)
    keys = KEYS[rows[0]["protocol"]]
    summary = evaluate.summarise(rows, keys)
    stem.with_suffix(".json").write_text(json.dumps({"runs": rows, "summary": summary},
                                                    indent=2))
    table = evaluate.markdown(summary, keys)
    stem.with_suffix(".md").write_text(table + "\n")
    evaluate.chart(summary, keys, stem.with_suffix(".png"))
    print(table)


if __name__ == "__main__":
    main()
