"""Commands that teach or measure the model: adapt, concepts, eval."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from photofind.cli.library_commands import EXIT_FAILED, EXIT_USAGE

VARIANTS = {"text": dict(text=True, visual=False), "visual": dict(text=False, visual=True),
            "both": dict(text=True, visual=True),
            "adapter": dict(text=False, visual=False, adapter=True),
            "text+adapter": dict(text=True, visual=False, adapter=True)}


def cmd_adapt(lib, args) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from photofind.adapt.data import NotEnoughData
    from photofind.adapt.store import AdaptConfig
    from photofind.search.rerank import weights_text
    from photofind.services import adapting as adaptation

    if args.reset:
        adaptation.reset(lib)
        print("Back to the zero-shot model; adapted embeddings and prompts removed.")
        return 0
    counts = adaptation.usable(lib)
    print(f"{counts['captioned']} captioned and {counts['tagged']} tagged photos to learn from.",
          file=sys.stderr if args.json else sys.stdout)  # --json: stdout holds only JSON
    variants = None if args.variant == "auto" else (AdaptConfig(**VARIANTS[args.variant]),)
    if args.epochs is not None:
        variants = tuple(replace(v, epochs=args.epochs) for v in
                         variants or adaptation.default_variants(lib.embedder.model))
    bar = tqdm(total=0, desc="adapting", disable=None)
    lines = StageLines()

    def progress(p) -> None:
        if bar.disable:  # not a terminal (a log, a pipe): a line per stage and every 10 s
            lines.show(p)
            return
        bar.set_description(f"{p.phase} {p.epoch}/{p.epochs}" if p.epochs else p.phase)
        bar.total, bar.n = p.steps, p.step
        if p.loss is not None:
            bar.set_postfix(loss=f"{p.loss:.3f}", eta=f"{p.eta_s or 0:.0f}s")
        bar.refresh()

    try:
        result = adaptation.adapt(lib, variants, progress=progress, seed=args.seed)
    except NotEnoughData as exc:
        bar.close()
        print(f"photofind: {exc}", file=sys.stderr)
        return EXIT_FAILED
    bar.close()
    if args.json:
        print(json.dumps(result.summary(), indent=2))
        return 0
    print(f"{'':14s}{'R@1':>7s}{'R@5':>7s}{'R@10':>7s}{'mAP':>7s}{'mean rank':>11s}")
    for name, metrics in (("zero-shot", result.before), (result.variant, result.after)):
        print(f"{name:14s}" + "".join(f"{metrics[k]:7.1f}" for k in ("R@1", "R@5", "R@10",
                                                                   "mAP")) +
              f"{metrics['mean_rank']:11.1f}")
    print(f"Trainable parameters: {result.trainable_params:,} "
          f"({100 * result.share:.3f} % of the model); {result.seconds:.0f} s, "
          f"{result.seconds_per_epoch:.0f} s per epoch.")
    print("Kept: queries and photos now use the adapted prompts." if result.kept else
          "Not kept: it did not beat the zero-shot model on held-out photos.")
    if result.rerank and "before" in result.rerank:
        rr = result.rerank
        state = f"on ({weights_text(rr)})" if rr["kept"] else \
            f"off ({rr['held_back']} held-out texts, too few to judge it)" if rr.get("too_few") \
            else "off (no gain on held-out)"
        print(f"Reranker: {state}; held-out R@1 {rr['before']['R@1']:.1f} → "
              f"{rr['after']['R@1']:.1f}, score {rr['before']['score']:.1f} → "
              f"{rr['after']['score']:.1f}.")
    return 0


class StageLines:
    """Adaptation progress as lines on stderr where no progress bar can be drawn: one when
    a stage starts, then one every ``every`` seconds ("training 3/10: 45 %, about 2 min
    left")."""

    def __init__(self, every: float = 10.0):
        self.every, self.last, self.stage = every, 0.0, None

    def show(self, p) -> None:
        stage = (p.phase, p.epoch)
        now = time.monotonic()
        if stage == self.stage and now - self.last < self.every:
            return
        self.stage, self.last = stage, now
        line = f"adapting: {p.phase}" + (f" {p.epoch}/{p.epochs}" if p.epochs else "")
        if p.steps:
            line += f": {100 * p.step / p.steps:.0f} %"
        if p.eta_s:
            line += f", about {_duration(p.eta_s)} left"
        print(line, file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def cmd_concepts(lib, args) -> int:
    from photofind.services import adapting as adaptation

    rows = adaptation.concepts(lib)
    if args.drop:  # by name, as listed; the names of concepts not in use are reported
        wanted = {name.casefold(): name for name in args.drop}
        keys = [row["key"] for row in rows if row["name"].casefold() in wanted]
        dropped = adaptation.drop_concepts(lib, keys)
        print(f"Stopped using: {', '.join(dropped)}." if dropped else "Nothing changed.")
        unknown = set(wanted) - {name.casefold() for name in dropped}
        for name in sorted(wanted[n] for n in unknown):
            print(f"photofind concepts: no personal concept {name!r} in use", file=sys.stderr)
        return EXIT_FAILED if unknown else 0
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("No personal concepts yet: tag a few photos of someone or something, then run "
              "photofind adapt.")
        return 0
    print(f"{'concept':24s}{'photos':>7s}{'AP before':>11s}{'AP after':>10s}  answered by")
    for row in rows:
        after = max(row["ap_token"] or 0, row["ap_prototype"] or 0)
        print(f"{row['name'][:23]:24s}{row['photos']:7d}{row['ap_zero_shot'] or 0:11.1f}"
              f"{after:10.1f}  {row['mode']}")
    return 0


def cmd_eval(lib, args) -> int:
    from photofind.services import evaluate

    lib.close()  # each run gets its own library under --out
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = dict(pair.split("=", 1) for pair in args.names.split(",") if "=" in pair)
    settings = evaluate.EvalSettings(
        variants=args.variants.split(","), seeds=[int(s) for s in args.seeds.split(",")],
        epochs=args.epochs, batch_size=args.batch_size, negatives=args.negatives, names=names,
        min_steps=args.min_steps, gate=not args.ungated)
    unknown = {v for v in settings.variants if not evaluate.known_variant(v)}
    if unknown:
        print(f"photofind eval: unknown variants {sorted(unknown)}; choose from "
              f"{sorted(evaluate.VARIANTS)}, each optionally with +rerank, or "
              f"{evaluate.BUTTON} (what the app's button runs)", file=sys.stderr)
        return EXIT_USAGE

    def make_library(data_dir):
        from photofind.services.library import PhotoLibrary

        return PhotoLibrary(data_dir, model=lib.model_spec, device=args.device,
                            workers=args.workers)

    keys = ["R@1", "R@5", "R@10", "median_rank"] if args.protocol == "captioned" else \
        ["mAP_word", "mAP_template", "mAP_template_no_distractors", "P@10_template"]

    def save(rows) -> list[dict]:  # after every run, so a long evaluation keeps its results
        summary = evaluate.summarise(rows, keys)
        (out / f"{args.protocol}.json").write_text(json.dumps(
            {"runs": rows, "summary": summary}, indent=2))
        return summary

    if args.protocol == "captioned":
        rows = evaluate.captioned(Path(args.folder), Path(args.csv), out, make_library, settings,
                                  on_row=save)
    else:
        rows = evaluate.tagged(Path(args.folder), Path(args.csv), out, make_library, settings,
                               Path(args.distractors) if args.distractors else None, on_row=save)
    summary = save(rows)
    table = evaluate.markdown(summary, keys)
    (out / f"{args.protocol}.md").write_text(table + "\n")
    evaluate.chart(summary, keys, out / f"{args.protocol}.png")
    print(table)
    return 0
