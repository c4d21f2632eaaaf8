"""The command line's grammar: global options (data dir, model), one sub-command each."""

from __future__ import annotations

import argparse
import os

from photofind.ocr import SWITCH_ENV
from photofind.ocr import enabled as reading_enabled
from photofind.services.data_dir import DATA_DIR_ENV


class _Parser(argparse.ArgumentParser):
    """argparse, except that ``photofind search -dog`` searches for "-dog": a query that starts
    with '-' (excluding, say, photos of dogs) reads like an option argparse does not know, and
    people type it without the ``--`` that argparse wants before it."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if getattr(namespace, "command", None) == "search" and namespace.query is None \
                and len(extras) == 1 and _dash_word(extras[0]):
            namespace.query, extras = extras[0], []
        return namespace, extras


def _dash_word(arg: str) -> bool:
    """'-dog', not a mistyped long option ('--jsn'), a short one ('-j') or a lone '-'."""
    return arg.startswith("-") and not arg.startswith("--") and len(arg) > 2


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="photofind", description="Find photos in your own library by what you remember.")
    parser.add_argument("--data-dir", help=f"catalog/index folder (default: ${DATA_DIR_ENV} or "
                                           "the user data dir)")
    model = parser.add_argument_group("model")
    model.add_argument("--model", help="open_clip model name (default ViT-B-32)")
    model.add_argument("--pretrained", help="open_clip weights tag or a local weights file")
    model.add_argument("--model-config", help="open_clip model-config JSON of a custom model")
    model.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    model.add_argument("--workers", type=int, help="decoders (default: cores - 1, at least 2)")
    parser.add_argument("--self-test", nargs="?", const="", metavar="FOLDER",
                        help="check this install offscreen with a tiny model (and FOLDER's "
                             "photos), print a JSON line, exit non-zero on failure")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    index = commands.add_parser("index", help="add folders and bring the index up to date")
    index.add_argument("paths", nargs="+")
    index.add_argument("--retry", action="store_true",
                       help="try unreadable photos again even if unchanged")
    no_text_flag(index)
    commands.add_parser("read-text", help="read the text in photos not read yet (index does "
                                          "this after embedding; this resumes it)")

    search = commands.add_parser("search", help="find photos by text or by example image")
    search.add_argument("query", nargs="?", default=None,
                        help="what to look for; one starting with '-' may need '--' before it: "
                             "photofind search -- -dog")
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
    edit = commands.add_parser("edit", help="write your own caption and tags for photos "
                                            "(kept in the library; the photos are not changed)")
    edit.add_argument("paths", nargs="+", help="photos already in the library")
    edit.add_argument("--caption", help="set your caption ('' removes it)")
    edit.add_argument("--add-tag", action="append", default=[], metavar="TAG",
                      help="add a tag (repeat for several)")
    edit.add_argument("--remove-tag", action="append", default=[], metavar="TAG",
                      help="remove a tag you added (repeat for several)")
    edit.add_argument("--sidecar", action="store_true",
                      help="also write them to an XMP sidecar beside each photo "
                           "(photo.jpg.xmp, merged into one that exists)")
    edit.add_argument("--json", action="store_true")
    imports = commands.add_parser("import-captions",
                                  help="add captions/tags from a path,caption,tags CSV")
    imports.add_argument("csv")
    adapt = commands.add_parser("adapt", help="learn this library's words from its own "
                                              "captions and tags")
    adapt.add_argument("--reset", action="store_true", help="go back to the zero-shot model")
    adapt.add_argument("--epochs", type=int, help="at most this many (default: the app's)")
    adapt.add_argument("--variant", choices=["auto", "text", "visual", "both", "adapter",
                                             "text+adapter"], default="auto",
                       help="which prompts to train (auto: compare and keep the best)")
    adapt.add_argument("--seed", type=int, default=0)
    adapt.add_argument("--json", action="store_true")
    concepts = commands.add_parser("concepts", help="personal concepts learned by adapting")
    concepts.add_argument("--json", action="store_true")
    concepts.add_argument("--drop", metavar="NAME", action="append", default=[],
                          help="stop using this personal concept for good (repeatable)")
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
    evaluate.add_argument("--ungated", action="store_true",
                          help="keep each variant's best epoch even where the gate would not, "
                               "recording what the gate said (to measure the gate itself)")
    evaluate.add_argument("--out", default="photofind-eval", help="results folder")
    watch = commands.add_parser("watch", help="catch up, then keep the index up to date as "
                                              "folders change (Ctrl+C stops)")
    watch.add_argument("paths", nargs="*", help="folders to add first (default: the indexed ones)")
    no_text_flag(watch)
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
    group.add_argument("--has-text", dest="has_text", action="store_const", const=True,
                       help="text was read in the photo (a sign, a screen, a label)")


def filters_from(args):
    from photofind.search.filters import SearchFilters

    folder = os.path.abspath(args.folder) if args.folder else None
    return SearchFilters(args.date_from, args.date_to, folder, args.camera, args.tag,
                         args.has_caption, getattr(args, "has_text", None))


def no_text_flag(command) -> None:
    """``--no-text``: index and watch read the text in new photos unless told not to."""
    command.add_argument("--no-text", dest="read_text", action="store_false",
                         default=reading_enabled(),
                         help="do not read the text in the photos afterwards (signs, screens; "
                              f"also {SWITCH_ENV}=0)")
