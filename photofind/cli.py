"""``photofind`` command line: a thin face over ``photofind.core.PhotoLibrary``.

With no command it opens the desktop app.
"""

from __future__ import annotations

import argparse
import json
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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    index = commands.add_parser("index", help="add folders and bring the index up to date")
    index.add_argument("paths", nargs="+")

    search = commands.add_parser("search", help="find photos by text or by example image")
    search.add_argument("query", nargs="?", default=None)
    search.add_argument("--image", help="find photos similar to this image")
    search.add_argument("-k", type=int, default=20, help="number of results")
    search.add_argument("--min-score", type=float, default=None)
    search.add_argument("--json", action="store_true", help="machine-readable output")

    commands.add_parser("status", help="counts, errors, model and index size") \
        .add_argument("--json", action="store_true")
    forget = commands.add_parser("forget", help="remove a folder from the library "
                                                "(the photos themselves are not touched)")
    forget.add_argument("path")
    watch = commands.add_parser("watch", help="catch up, then keep the index up to date as "
                                              "folders change (Ctrl+C stops)")
    watch.add_argument("paths", nargs="*", help="folders to add first (default: the indexed ones)")
    watch.add_argument("--poll", action="store_true",
                       help="poll instead of using native events (e.g. for network shares)")
    watch.add_argument("--debounce", type=float, default=1.0,
                       help="seconds of quiet before a batch is indexed (default 1)")
    commands.add_parser("gui", help="open the desktop app (the default)")
    return parser


def open_library(args):
    from photofind.core import PhotoLibrary
    from photofind.embed.model import ModelSpec

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
    if not args.query and not args.image:
        print("photofind search: give a text query or --image FILE", file=sys.stderr)
        return EXIT_USAGE
    results = lib.search(args.query, image=args.image, k=args.k, min_score=args.min_score)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2, ensure_ascii=False))
    elif not results:
        print("No photos match — try fewer words, or index a folder first.")
    for rank, result in enumerate([] if args.json else results, 1):
        print(f"{rank:3d}  {result.score:6.3f}  {result.path}")
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


COMMANDS = {"index": cmd_index, "search": cmd_search, "status": cmd_status,
            "forget": cmd_forget, "watch": cmd_watch}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "gui"):
        return launch_gui(args)
    from photofind.embed.model import ModelUnavailable

    lib = open_library(args)
    try:
        return COMMANDS[args.command](lib, args)
    except ModelUnavailable as exc:
        print(f"photofind: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:
        print(f"photofind: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("photofind: interrupted; everything done so far is saved.", file=sys.stderr)
        return 130
    finally:
        lib.close()


def launch_gui(args) -> int:
    try:
        from photofind.gui.app import run_app
    except ImportError:
        build_parser().print_help()
        return 0
    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
