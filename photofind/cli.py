"""``photofind`` command line: a thin face over ``photofind.core.PhotoLibrary``.

With no command it opens the desktop app.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from photofind.config import DATA_DIR_ENV

EXIT_USAGE, EXIT_FAILED = 2, 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photofind", description="Find photos in your own library by what you remember.")
    parser.add_argument("--data-dir", help=f"catalog/index folder (default: ${DATA_DIR_ENV} or "
                                           "the user data dir)")
    model = parser.add_argument_group("model")
    model.add_argument("--model", help="open_clip model name (default ViT-B-32)")
    model.add_argument("--pretrained", help="open_clip weights tag or a local weights file")
    model.add_argument("--model-config", help="open_clip model-config JSON of a custom model")
    model.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    model.add_argument("--workers", type=int, help="decoder processes (default: cores - 1)")
    parser.add_argument("--self-test", nargs="?", const="", metavar="FOLDER",
                        help="check this install offscreen with a tiny model (and FOLDER's "
                             "photos), print a JSON line, exit non-zero on failure")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    index = commands.add_parser("index", help="add folders and bring the index up to date")
    index.add_argument("paths", nargs="+")

    search = commands.add_parser("search", help="find photos by text or by example image")
    search.add_argument("query", nargs="?", default=None)
    search.add_argument("--image", help="find photos similar to this image")
    search.add_argument("-k", type=int, default=20, help="number of results")
    search.add_argument("--min-score", type=float, default=None)
    search.add_argument("--json", action="store_true", help="machine-readable output")
    search.add_argument("--no-text-match", action="store_true",
                        help="rank by the model alone, ignoring captions and tags")
    search.add_argument("--no-rerank", action="store_true",
                        help="skip the trained cross-encoder (bi-encoder order)")
    add_filter_options(search)

    commands.add_parser("status", help="counts, errors, model and index size") \
        .add_argument("--json", action="store_true")
    forget = commands.add_parser("forget", help="remove a folder from the library "
                                                "(the photos themselves are not touched)")
    forget.add_argument("path")
    show = commands.add_parser("show", help="everything photofind knows about a photo")
    show.add_argument("path")
    show.add_argument("--json", action="store_true")
    imports = commands.add_parser("import-captions",
                                  help="add captions/tags from a path,caption,tags CSV")
    imports.add_argument("csv")
    adapt = commands.add_parser("adapt", help="learn this library's words from its own "
                                              "captions and tags")
    adapt.add_argument("--reset", action="store_true", help="go back to the zero-shot model")
    adapt.add_argument("--epochs", type=int, default=10)
    adapt.add_argument("--variant", choices=["auto", "text", "visual", "both", "adapter",
                                             "text+adapter"], default="auto",
                       help="which prompts to train (auto: compare and keep the best)")
    adapt.add_argument("--seed", type=int, default=0)
    adapt.add_argument("--json", action="store_true")
    commands.add_parser("concepts", help="personal concepts learned by adapting") \
        .add_argument("--json", action="store_true")
    evaluate = commands.add_parser("eval", help="measure retrieval quality on a captioned or "
                                                "tagged folder (zero-shot vs adapted)")
    evaluate.add_argument("protocol", choices=["captioned", "tagged"])
    evaluate.add_argument("folder")
    evaluate.add_argument("csv", help="image,caption or image,tags table")
    evaluate.add_argument("--distractors", help="folder of untagged everyday photos (tagged)")
    evaluate.add_argument("--names", default="",
                          help="made-up names for tags, e.g. daisy=Biscuit,tulips=Pemberton")
    evaluate.add_argument("--variants", default="zero-shot,text,both")
    evaluate.add_argument("--seeds", default="0")
    evaluate.add_argument("--epochs", type=int, default=10)
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument("--min-steps", type=int, default=0,
                          help="train at least this many steps (small tagged sets)")
    evaluate.add_argument("--negatives", type=int, default=64)
    evaluate.add_argument("--out", default="photofind-eval", help="results folder")
    watch = commands.add_parser("watch", help="catch up, then keep the index up to date as "
                                              "folders change (Ctrl+C stops)")
    watch.add_argument("paths", nargs="*", help="folders to add first (default: the indexed ones)")
    watch.add_argument("--poll", action="store_true",
                       help="poll instead of using native events (e.g. for network shares)")
    watch.add_argument("--debounce", type=float, default=1.0,
                       help="seconds of quiet before a batch is indexed (default 1)")
    commands.add_parser("gui", help="open the desktop app (the default)")
    return parser


def add_filter_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("filters (combine freely; usable without a query)")
    group.add_argument("--from", dest="date_from", metavar="DATE", help="taken on/after (ISO)")
    group.add_argument("--to", dest="date_to", metavar="DATE", help="taken on/before (ISO)")
    group.add_argument("--folder", help="only photos inside this folder")
    group.add_argument("--camera", help="camera make/model contains this")
    group.add_argument("--tag", help="carries this tag or person name")
    group.add_argument("--has-caption", dest="has_caption", action="store_true", default=None)
    group.add_argument("--no-caption", dest="has_caption", action="store_false")


def filters_from(args):
    from photofind.search.filters import SearchFilters

    folder = os.path.abspath(args.folder) if args.folder else None
    return SearchFilters(args.date_from, args.date_to, folder, args.camera, args.tag,
                         args.has_caption)


def open_library(args):
    from photofind.core import PhotoLibrary
    from photofind.embed.spec import ModelSpec

    spec = None
    if args.model or args.pretrained or args.model_config:
        defaults = ModelSpec()
        spec = ModelSpec(name=args.model or ("custom" if args.model_config else defaults.name),
                         pretrained=args.pretrained or (None if args.model_config
                                                        else defaults.pretrained),
                         config=str(Path(args.model_config).resolve()) if args.model_config
                         else None)
        if spec.pretrained and Path(spec.pretrained).expanduser().exists():
            spec = ModelSpec(spec.name, str(Path(spec.pretrained).expanduser().resolve()),
                             spec.config)
    return PhotoLibrary(args.data_dir, model=spec, device=args.device, workers=args.workers)


def cmd_index(lib, args) -> int:
    from tqdm import tqdm

    bar = tqdm(total=0, unit="photo", desc="indexing", disable=None)

    def progress(done: int, total: int, _path: str) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    report = lib.index(args.paths, progress=progress)
    bar.close()
    print(f"Indexed: {report.summary()}.")
    for path, reason in report.problems:
        print(f"  skipped {path}: {reason}")
    return 0


def cmd_search(lib, args) -> int:
    filters = filters_from(args)
    if not args.query and not args.image and not filters.active():
        print("photofind search: give a text query, --image FILE or a filter", file=sys.stderr)
        return EXIT_USAGE
    results = lib.search(args.query, image=args.image, k=args.k, min_score=args.min_score,
                         filters=filters, hybrid=not args.no_text_match,
                         rerank=not args.no_rerank)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2, ensure_ascii=False))
    elif not results:
        print("No photos match — try fewer words, or index a folder first.")
    for rank, result in enumerate([] if args.json else results, 1):
        score = "      " if result.score is None else f"{result.score:6.3f}"
        mark = "T" if result.text_match else " "
        date = (result.photo.taken_at or "")[:10]
        print(f"{rank:3d}  {score} {mark} {date:10s}  {result.path}")
    return 0


def cmd_show(lib, args) -> int:
    details = lib.photo_details(os.path.abspath(args.path))
    if details is None:
        print(f"photofind: {args.path} is not in the library (index its folder first).",
              file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(details, indent=2, ensure_ascii=False))
        return 0
    print(details["path"])
    print(f"  status:  {details['index_status']}")
    print(f"  size:    {details['width']}×{details['height']}, {details['size']:,} bytes")
    print(f"  taken:   {details['taken_at'] or 'unknown'} ({details['taken_at_source'] or '-'})")
    camera = " ".join(filter(None, [details["camera_make"], details["camera_model"]]))
    print(f"  camera:  {camera or 'unknown'}")
    if details["gps_lat"] is not None:
        print(f"  GPS:     {details['gps_lat']:.5f}, {details['gps_lon']:.5f}")
    for text in details["texts"]:
        print(f"  {text['kind']:8s} {text['text']!r}  ← {text['source']} ({text['file']})")
    for sidecar in details["sidecars"]:
        print(f"  sidecar: {sidecar}")
    return 0


def cmd_import_captions(lib, args) -> int:
    updated, unknown = lib.import_captions(args.csv)
    print(f"Imported captions/tags for {updated} photos.")
    for path in unknown:
        print(f"  not in the library: {path}")
    return 0


def cmd_status(lib, args) -> int:
    status = lib.status()
    if args.json:
        print(json.dumps(status, indent=2, ensure_ascii=False))
        return 0
    print(f"Data folder: {status['data_dir']}")
    print(f"Model:       {status['model']}")
    print(f"Photos:      {status['photos']} indexed, {status['errors']} unreadable")
    for root in status["roots"]:
        state = "" if root["online"] else "  (offline)"
        print(f"  {root['path']}: {root['photos']} photos{state}")
    for key, count in status["embeddings"].items():
        print(f"Embeddings:  {count} for {key}")
    print(f"Catalog:     {status['catalog_bytes']:,} bytes")
    for path, reason in status["errors_list"]:
        print(f"  unreadable {path}: {reason}")
    return 0


def cmd_forget(lib, args) -> int:
    removed = lib.forget(os.path.abspath(args.path))
    print(f"Forgot {removed} photos under {args.path} (files untouched).")
    return 0


def cmd_watch(lib, args) -> int:
    from photofind.library.watch import LibraryWatcher

    for folder in args.paths:
        if not os.path.isdir(folder):
            print(f"photofind watch: {folder} is not a folder", file=sys.stderr)
            return EXIT_USAGE
        lib.catalog.add_root(os.path.abspath(folder))
    if not lib.catalog.roots():
        print("photofind watch: nothing to watch; give a folder or index one first",
              file=sys.stderr)
        return EXIT_USAGE

    def show(report) -> None:
        line = f"{time.strftime('%H:%M:%S')}  {report.summary()}"
        if report.problems:
            path, reason = report.problems[0]
            more = f" (+{len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
            line += f"; {path}: {reason}{more}"
        print(line, flush=True)

    watcher = LibraryWatcher(lib, debounce=args.debounce, on_change=show, polling=args.poll)
    try:
        watcher.start()
        for root, state in watcher.states().items():
            print(f"{state:9s} {root}")
        print("Catching up, then watching for changes; Ctrl+C stops.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
    print("Stopped watching; everything done so far is saved.")
    return 0


VARIANTS = {"text": dict(text=True, visual=False), "visual": dict(text=False, visual=True),
            "both": dict(text=True, visual=True),
            "adapter": dict(text=False, visual=False, adapter=True),
            "text+adapter": dict(text=True, visual=False, adapter=True)}


def cmd_adapt(lib, args) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from photofind.adapt import library as adaptation
    from photofind.adapt.data import NotEnoughData
    from photofind.adapt.store import AdaptConfig
    from photofind.search.rerank import weights_text

    if args.reset:
        adaptation.reset(lib)
        print("Back to the zero-shot model; adapted embeddings and prompts removed.")
        return 0
    counts = adaptation.usable(lib)
    print(f"{counts['captioned']} captioned and {counts['tagged']} tagged photos to learn from.")
    variants = adaptation.DEFAULT_VARIANTS if args.variant == "auto" else \
        (AdaptConfig(**VARIANTS[args.variant]),)
    variants = tuple(replace(v, epochs=args.epochs) for v in variants)
    bar = tqdm(total=0, desc="adapting", disable=None)

    def progress(p) -> None:
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
        state = f"on ({weights_text(rr)})" if rr["kept"] else "off (no gain on held-out)"
        print(f"Reranker: {state}; held-out R@1 {rr['before']['R@1']:.1f} → "
              f"{rr['after']['R@1']:.1f}, score {rr['before']['score']:.1f} → "
              f"{rr['after']['score']:.1f}.")
    return 0


def cmd_concepts(lib, args) -> int:
    from photofind.adapt import library as adaptation

    rows = adaptation.concepts(lib)
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
    from photofind import evaluate

    lib.close()  # each run gets its own library under --out
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = dict(pair.split("=", 1) for pair in args.names.split(",") if "=" in pair)
    settings = evaluate.EvalSettings(
        variants=args.variants.split(","), seeds=[int(s) for s in args.seeds.split(",")],
        epochs=args.epochs, batch_size=args.batch_size, negatives=args.negatives, names=names,
        min_steps=args.min_steps)
    unknown = {v for v in settings.variants if not evaluate.known_variant(v)}
    if unknown:
        print(f"photofind eval: unknown variants {sorted(unknown)}; choose from "
              f"{sorted(evaluate.VARIANTS)}, each optionally with +rerank", file=sys.stderr)
        return EXIT_USAGE

    def make_library(data_dir):
        from photofind.core import PhotoLibrary

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


COMMANDS = {"eval": cmd_eval, "adapt": cmd_adapt, "concepts": cmd_concepts, "index": cmd_index, "search": cmd_search, "status": cmd_status,
            "forget": cmd_forget, "show": cmd_show, "import-captions": cmd_import_captions,
            "watch": cmd_watch}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "gui"):
        return launch_gui(args)
    from photofind.embed.spec import ModelUnavailable

    logging.basicConfig(format="%(message)s")  # stderr: stdout stays for results and JSON
    logging.getLogger("photofind").setLevel(logging.INFO)
    lib = open_library(args)
    try:
        code = COMMANDS[args.command](lib, args)
        sys.stdout.flush()  # a closed pipe shows here, where it is handled, not at exit
        return code
    except ModelUnavailable as exc:
        print(f"photofind: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:
        print(f"photofind: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("photofind: interrupted; everything done so far is saved.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left early (`photofind status | head`): fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error
        return 0
    finally:
        lib.close()


def launch_gui(args) -> int:
    try:
        if args.self_test is not None:
            from photofind.gui.selftest import run_self_test as run_app
        else:
            from photofind.gui.app import run_app
    except ImportError as exc:
        if args.self_test is not None:
            print(f"photofind self-test FAILED: the desktop app cannot start: {exc}",
                  file=sys.stderr)
            return EXIT_FAILED
        build_parser().print_help()
        return 0
    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
