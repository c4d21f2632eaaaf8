"""Commands on the library itself: index, read-text, search, show, import-captions, status,
forget, watch.
Each takes the open library and the parsed arguments and returns the exit status."""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from photofind.cli.parser import filters_from

EXIT_USAGE, EXIT_FAILED = 2, 1


def _bar(desc: str):
    """A tqdm bar on stderr (hidden when not a terminal) and the progress callback feeding it."""
    from tqdm import tqdm

    bar = tqdm(total=0, unit="photo", desc=desc, disable=None)

    def progress(done: int, total: int, _path: str) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return bar, progress


def cmd_index(lib, args) -> int:
    bar, progress = _bar("indexing")
    report = lib.index(args.paths, progress=progress, retry=getattr(args, "retry", False))
    bar.close()
    print(f"Indexed: {report.summary()}.")
    for path, reason in report.grouped_problems():
        print(f"  skipped {path}: {reason}")
    if getattr(args, "read_text", False) and not report.cancelled:
        return cmd_read_text(lib, args)
    return 0


def cmd_read_text(lib, args) -> int:
    """Read the text in photos not read yet (after ``index``, or on its own to resume)."""
    bar, progress = _bar("reading text")
    report = lib.read_texts(progress=progress)
    bar.close()
    if report.read or report.skipped or report.cancelled:
        print(f"Text in photos: {report.summary()}.")
    for path, reason in report.problems:
        print(f"  text not read in {path}: {reason}")
    return 0


def cmd_search(lib, args) -> int:
    filters = filters_from(args)
    if not args.query and not args.image and not filters.active():
        print("photofind search: give a text query, --image FILE or a filter", file=sys.stderr)
        return EXIT_USAGE
    lib.use_briefly()  # one query, then the process ends
    results = lib.search(args.query, image=args.image, k=args.k, min_score=args.min_score,
                         filters=filters, hybrid=not args.no_text_match,
                         rerank=not args.no_rerank)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2, ensure_ascii=False))
    elif not results:
        print("No photos match — try fewer words, or index a folder first.")
    for rank, result in enumerate([] if args.json else results, 1):
        score = "   " if result.relevance is None else f"{result.relevance:3d}"
        mark = "T" if result.text_match else " "
        date = (result.photo.taken_at or "")[:10]
        away = "  (offline: its drive or folder is not there now)" if result.offline else ""
        print(f"{rank:3d}  {score} {mark} {date:10s}  {result.path}{away}")
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
        if text["kind"] == "ocr":
            continue
        print(f"  {text['kind']:8s} {text['text']!r}  ← {text['source']} ({text['file']})")
    reading = details["text_in_photo"]
    if reading and reading["error"]:
        print(f"  text in photo: not read ({reading['error']})")
    for line in reading["lines"] if reading else ():
        print(f"  text in photo: {line['text']!r}")
    for sidecar in details["sidecars"]:
        print(f"  sidecar: {sidecar}")
    for warning in details["meta_warnings"]:
        print(f"  warning: {warning}")
    return 0


def cmd_edit(lib, args) -> int:
    from photofind.services.editing import TextEdit

    ids, unknown = [], []
    for path in args.paths:
        row = lib.catalog.photo_by_path(os.path.abspath(path))
        (ids.append(row.id) if row is not None else unknown.append(path))
    for path in unknown:
        print(f"photofind: {path} is not in the library (index its folder first).",
              file=sys.stderr)
    if not ids:
        return EXIT_FAILED
    report = lib.edit_texts(ids, TextEdit(args.caption, tuple(args.add_tag),
                                          tuple(args.remove_tag)), sidecars=args.sidecar)
    for path, why in report.problems:
        print(f"photofind: sidecar of {path} not written: {why}", file=sys.stderr)
    if args.json:
        print(json.dumps({"edited": report.photos, "sidecars": report.sidecars,
                          "problems": report.problems, "not_in_library": unknown},
                         ensure_ascii=False))
    else:
        print(f"Edited {report.photos} photo{'s' * (report.photos != 1)}"
              + (f"; wrote {len(report.sidecars)} sidecar file(s)" if report.sidecars else "")
              + ".")
    return EXIT_FAILED if unknown or report.problems else 0


def cmd_import_captions(lib, args) -> int:
    try:
        updated, unknown = lib.import_captions(args.csv)
    except OSError as exc:
        # the table a person named is missing or unreadable: say so in their words. Other
        # files' errors (the catalog's disk) go on to the general handler.
        if exc.filename is None or os.path.abspath(exc.filename) != os.path.abspath(args.csv):
            raise
        print(f"photofind: cannot read captions file {args.csv}: {exc.strerror or exc}",
              file=sys.stderr)
        return EXIT_FAILED
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
    reading = status["text_in_photos"]
    if reading["off"]:
        print("Text:        not read (turned off)")
    else:
        print(f"Text:        read in {reading['read']} photos, {reading['with_text']} with text"
              + (f", {reading['to_read']} to read (photofind read-text)" if reading["to_read"]
                 else ""))
    print(f"Catalog:     {status['catalog_bytes']:,} bytes")
    for warning in status["warnings"]:
        print(f"Warning:     {warning}")
    for path, reason in status["errors_list"]:
        print(f"  unreadable {path}: {reason}")
    for path, warning in status["metadata_warnings"]:
        print(f"  metadata of {path}: {warning}")
    return 0


def _read_new_text(lib, told: set[str]) -> None:
    """While watching: read the text in photos indexed since the last look (in this
    thread; the reader runs at idle priority, so the watcher's indexing goes first). Why it
    cannot run is said once (in ``told``)."""
    report = lib.read_texts()
    if report.read or (report.skipped and report.skipped not in told):
        told.add(report.skipped or "")
        print(f"{time.strftime('%H:%M:%S')}  {report.summary()}", flush=True)


def cmd_forget(lib, args) -> int:
    removed = lib.forget(os.path.abspath(args.path))
    print(f"Forgot {removed} photos under {args.path} (files untouched).")
    return 0


def cmd_watch(lib, args) -> int:
    from photofind.services.watch import LibraryWatcher

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

    changed = threading.Event()  # photos were indexed: their text is due
    changed.set()  # and some may be due from before
    told: set[str] = set()

    def show_and_read(report) -> None:
        show(report)
        changed.set()

    watcher = LibraryWatcher(lib, debounce=args.debounce, on_change=show_and_read,
                             polling=args.poll)
    try:
        watcher.start()
        for root, state in watcher.states().items():
            print(f"{state:9s} {root}")
        print("Catching up, then watching for changes; Ctrl+C stops.", flush=True)
        while True:
            # short waits: when Ctrl+C's signal lands on one of the watcher's threads, a
            # long wait in this thread is not interrupted and Python acts on it only when
            # this thread next runs (a test's SIGINT hung here for 10 minutes under load)
            if changed.wait(0.5) and args.read_text:
                changed.clear()
                _read_new_text(lib, told)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
    print("Stopped watching; everything done so far is saved.")
    return 0
