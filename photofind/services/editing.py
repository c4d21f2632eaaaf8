"""A person's own captions and tags: written in photofind, for one photo or many at once.

They go into the catalog with source ``photofind``, so search (FTS) finds them at once and
Adapt learns from them like any caption or tag. Only when the person turned it on (the
``sidecars`` argument, the app's setting) are they also written to ``photo.jpg.xmp`` beside
each photo, merged into what is there; the photo file itself is never written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from photofind.library import paths
from photofind.library.catalog.texts import OWN
from photofind.library.metadata.texts import MAX_TEXT_CHARS, clean
from photofind.library.metadata.xmp_write import SidecarError, sidecar_for, update_sidecar
from photofind.services.state import LibraryState
from photofind.services.storage import LibraryReadOnly, read_only_reason


@dataclass(frozen=True)
class TextEdit:
    """What to change on every photo edited: the caption (None: leave it; "": remove the
    person's own), tags to add and tags to remove."""

    caption: str | None = None
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()

    def changes_something(self) -> bool:
        return self.caption is not None or bool(self.add_tags or self.remove_tags)

    def cleaned(self) -> TextEdit:
        """Blank tags dropped, each tag once (first spelling wins), texts trimmed and capped."""
        def once(tags) -> tuple[str, ...]:
            kept = {}
            for tag in tags:
                if tag := clean(tag)[:MAX_TEXT_CHARS]:
                    kept.setdefault(tag.casefold(), tag)
            return tuple(kept.values())

        caption = None if self.caption is None else clean(self.caption)[:MAX_TEXT_CHARS]
        return TextEdit(caption, once(self.add_tags), once(self.remove_tags))


@dataclass
class EditReport:
    photos: int = 0  # photos whose catalog texts were changed
    sidecars: list[str] = field(default_factory=list)  # sidecar files written
    problems: list[tuple[str, str]] = field(default_factory=list)  # (photo, why not written)


@dataclass(frozen=True)
class EditableTexts:
    """What an edit dialog shows for a selection: the person's own caption when every photo
    has the same one, their own tags (and on how many photos), and tags from the photos'
    files, which photofind shows but does not change."""

    photos: int
    caption: str
    own_tags: dict[str, int]
    file_tags: dict[str, int]


def editable_texts(state: LibraryState, photo_ids: list[int], sidecars: bool) -> EditableTexts:
    captions, own, fixed = set(), Counter(), Counter()
    for photo_id in photo_ids:
        row = state.catalog.photo(photo_id)
        if row is None:
            continue
        ours = paths.to_text(sidecar_for(row.file)) if sidecars else None
        photo_captions = ""
        tags_here: dict[str, bool] = {}
        for text in state.catalog.texts(photo_id):
            mine = text["source"] == OWN or (ours is not None and text["file"] == ours)
            if text["kind"] == "caption" and text["source"] == OWN:
                photo_captions = text["text"]
            elif text["kind"] == "tag":
                key = text["text"]
                tags_here[key] = tags_here.get(key, False) or mine
        captions.add(photo_captions)
        for tag, mine in _fold(tags_here).items():
            (own if mine else fixed)[tag] += 1
    caption = captions.pop() if len(captions) == 1 else ""
    return EditableTexts(len(photo_ids), caption, dict(own), dict(fixed))


def _fold(tags: dict[str, bool]) -> dict[str, bool]:
    """One entry per tag, whatever its case; removable if any of its rows is the person's."""
    folded: dict[str, tuple[str, bool]] = {}
    for tag, mine in tags.items():
        first, was = folded.get(tag.casefold(), (tag, False))
        folded[tag.casefold()] = (first, was or mine)
    return dict(folded.values())


def edit_texts(state: LibraryState, photo_ids: list[int], edit: TextEdit,
               sidecars: bool = False) -> EditReport:
    """Apply ``edit`` to each photo: the catalog first (one transaction a photo), then, if
    ``sidecars``, its sidecar. A sidecar that cannot be written is reported, not fatal: the
    edit stands in the catalog and search."""
    if state.catalog.read_only:
        raise LibraryReadOnly(read_only_reason(state.catalog.read_only, state.data_dir))
    edit = edit.cleaned()
    report = EditReport()
    for photo_id in photo_ids:
        row = state.catalog.photo(photo_id)
        if row is None:
            continue
        sidecar = str(sidecar_for(row.file)) if sidecars else None
        state.catalog.edit_own_texts(photo_id, row.path, edit.caption, list(edit.add_tags),
                                     list(edit.remove_tags), sidecar)
        report.photos += 1
        if sidecars:
            try:
                written = update_sidecar(row.file, edit.caption, edit.add_tags,
                                         edit.remove_tags)
                report.sidecars.append(str(written))
            except (OSError, SidecarError) as exc:
                report.problems.append((row.path, str(exc)))
    return report
