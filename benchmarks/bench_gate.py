"""How often the adaptation gate is fooled: `photofind eval --ungated` over many splits.

For each seed (a different random owner/query split of the library) the variant is trained
and its best epoch kept whatever the gate says, while the gate's verdict is recorded; the
held-out queries then show whether the gate was right. Counted per library:

* kept but worse: the gate kept it and held-out R@1 fell > 0.3 points (captioned) or
  mAP > 0.5 (tagged) against zero-shot on the same split;
* rejected but better: the gate said no and held-out rose by as much.

Libraries: the shared Flickr8k photos with captions (70 % the owner's, the rest queries) and
the flowers inside Flickr8k (20 % of each kind tagged; tags as written and as made-up
names), with the bench model. Prints JSON and a table; writes `results/gate.json`.
Usage: python benchmarks/bench_gate.py [--seeds 20] [--variant adapter] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_quality import NAMES, SHARED, photofind

RESULTS = Path(__file__).resolve().parent / "results"
WORSE = {"captioned": ("R@1", 0.3), "tagged": ("mAP_word", 0.5)}


def run(protocol: str, inputs: list[str], variant: str, seeds: int, out: Path) -> list[dict]:
    photofind("--data-dir", str(out / "unused"), "eval", protocol, *inputs,
              "--variants", f"zero-shot,{variant}", "--seeds",
              ",".join(map(str, range(seeds))), "--epochs", "10", "--min-steps", "200",
              "--ungated", "--out", str(out / protocol))
    return json.loads((out / protocol / f"{protocol}.json").read_text())["runs"]


def tally(protocol: str, rows: list[dict], variant: str) -> list[dict]:
    metric, margin = WORSE[protocol]
    base = {(r.get("condition"), r["seed"]): r[metric] for r in rows
            if r["variant"] == "zero-shot"}
    out = {}
    for row in (r for r in rows if r["variant"] == variant):
        condition = row.get("condition") or "captions"
        delta = row[metric] - base[(row.get("condition"), row["seed"])]
        entry = out.setdefault(condition, {"protocol": protocol, "condition": condition,
                                           "splits": 0, "gate_kept": 0,
                                           "kept_but_worse": 0, "rejected_but_better": 0,
                                           "deltas": []})
        entry["splits"] += 1
        entry["gate_kept"] += bool(row["gate_kept"])
        entry["kept_but_worse"] += bool(row["gate_kept"]) and delta < -margin
        entry["rejected_but_better"] += (not row["gate_kept"]) and delta > margin
        entry["deltas"].append({"seed": row["seed"], "delta": round(delta, 2),
                                "gate_kept": row["gate_kept"], "verdict": row["verdict"]})
    return list(out.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--variant", default="adapter")
    parser.add_argument("--protocols", default="captioned,tagged")
    parser.add_argument("--out", default="bench-results/gate")
    args = parser.parse_args()
    out = Path(args.out)
    inputs = {
        "captioned": [str(SHARED / "flickr8k/images"), str(SHARED / "flickr8k/captions.csv")],
        "tagged": [str(SHARED / "flowers/images"), str(SHARED / "flowers/tags.csv"),
                   "--distractors", str(SHARED / "flickr8k/images"), "--names", NAMES]}
    table = []
    for protocol in args.protocols.split(","):
        rows = run(protocol, inputs[protocol], args.variant, args.seeds, out)
        table += tally(protocol, rows, args.variant)
    RESULTS.mkdir(exist_ok=True)
    saved = RESULTS / "gate.json"  # protocols run separately land in one file
    earlier = json.loads(saved.read_text()) if saved.exists() else {}
    kept = [t for t in earlier.get("tally", []) if earlier.get("variant") == args.variant
            and t["protocol"] not in {row["protocol"] for row in table}]
    saved.write_text(json.dumps({"variant": args.variant, "tally": kept + table}, indent=2))
    print(json.dumps(table, indent=2))
    print("\n| library | splits | kept | kept but worse | rejected but better |")
    print("|---|---|---|---|---|")
    for t in table:
        print(f"| {t['protocol']} ({t['condition']}) | {t['splits']} | {t['gate_kept']} | "
              f"{t['kept_but_worse']} | {t['rejected_but_better']} |")


if __name__ == "__main__":
    main()
