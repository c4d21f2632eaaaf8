"""Writing a person's own caption and tags to an XMP sidecar beside the photo, when they
asked for it (a setting, off by default). Never the photo file itself.

The sidecar is ``photo.jpg.xmp``: the name digiKam and darktable use (Lightroom's
``photo.xmp`` is left alone). A sidecar another program wrote is merged: only
``dc:description`` (the caption), ``dc:subject`` (the tags) and, for a removed tag, the
hierarchical lists' entries ending in it change; every other field, namespace and value
is kept. One that cannot be read as XMP is not touched. Writes are atomic (a temporary
file in the same folder, then a rename), so a crash leaves the old sidecar or the new one.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from xml.etree import ElementTree
from xml.etree.ElementTree import Element, SubElement

from defusedxml import ElementTree as SafeElementTree

from photofind.library.metadata.xmp import NAMESPACES, qname

_X = "adobe:ns:meta/"
_PACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_PACKET_END = '\n<?xpacket end="w"?>\n'
_LI, _ALT, _BAG = qname("rdf:li"), qname("rdf:Alt"), qname("rdf:Bag")
_DESCRIPTION, _RDF = qname("rdf:Description"), qname("rdf:RDF")
_HIERARCHIES = (("lr:hierarchicalSubject", "|"), ("digiKam:TagsList", "/"))


class SidecarError(Exception):
    """The sidecar exists but is not XMP this module can merge into; it was not changed."""


def sidecar_for(photo: str | os.PathLike) -> Path:
    """Where the photo's own sidecar is written: ``photo.jpg.xmp``."""
    photo = Path(photo)
    return photo.with_name(photo.name + ".xmp")


def update_sidecar(photo: str | os.PathLike, caption: str | None = None,
                   add_tags: Iterable[str] = (), remove_tags: Iterable[str] = ()) -> Path:
    """Set the caption (None: leave it; "": remove it), add and remove tags in the photo's
    sidecar, creating it if there is none. Returns the sidecar's path."""
    path = sidecar_for(photo)
    root = _read(path) if path.exists() else _new_root()
    description = _description(root)
    if caption is not None:
        _set_caption(root, description, caption.strip())
    gone = {tag.strip().casefold() for tag in remove_tags if tag.strip()}
    if gone:
        _remove_tags(root, gone)
    added = [tag.strip() for tag in add_tags if tag.strip()]
    if added:
        _add_tags(root, description, added)
    _write_atomically(path, root)
    return path


def _read(path: Path) -> Element:
    """The existing sidecar, its prefixes registered so they are written back as they were."""
    data = path.read_bytes()
    try:
        for _event, (prefix, uri) in SafeElementTree.iterparse(io.BytesIO(data),
                                                                events=("start-ns",)):
            if prefix and not prefix.startswith("ns"):
                ElementTree.register_namespace(prefix, uri)
        return SafeElementTree.fromstring(data.strip(b"\x00 \t\r\n"))
    except Exception as exc:  # noqa: BLE001 - ParseError, defusedxml's refusals, bad encodings
        raise SidecarError(f"{path.name} is not readable XMP, so it was left as it is "
                           f"({exc})") from exc


def _new_root() -> Element:
    ElementTree.register_namespace("x", _X)
    for prefix in ("rdf", "dc", "xml"):
        if prefix != "xml":
            ElementTree.register_namespace(prefix, NAMESPACES[prefix])
    root = Element(f"{{{_X}}}xmpmeta", {f"{{{_X}}}xmptk": "photofind"})
    rdf = SubElement(root, _RDF)
    SubElement(rdf, _DESCRIPTION, {qname("rdf:about"): ""})
    return root


def _description(root: Element) -> Element:
    """The first ``rdf:Description``: where new properties go."""
    found = root.find(f".//{_DESCRIPTION}")
    if found is not None:
        return found
    rdf = root if root.tag == _RDF else root.find(f".//{_RDF}")
    if rdf is None:
        raise SidecarError("the sidecar has no rdf:RDF element, so it was left as it is")
    return SubElement(rdf, _DESCRIPTION, {qname("rdf:about"): ""})


def _property(root: Element, description: Element, name: str, container: str) -> Element:
    """The container (``rdf:Alt`` / ``rdf:Bag``) of property ``name``, made if missing. A
    value written as an attribute (``dc:description="…"``) becomes the first entry."""
    tag = qname(name)
    for element in root.iter():
        if tag in element.attrib:
            value = element.attrib.pop(tag)
            prop = SubElement(element, tag)
            li = SubElement(SubElement(prop, container), _LI)
            li.text = value
            if container == _ALT:
                li.set(qname("xml:lang"), "x-default")
    prop = root.find(f".//{tag}")
    if prop is None:
        prop = SubElement(description, tag)
    box = next((child for child in prop if child.tag in (_ALT, _BAG, qname("rdf:Seq"))), None)
    if box is None:
        old, prop.text = (prop.text or "").strip(), None
        box = SubElement(prop, container)
        if old:
            SubElement(box, _LI).text = old
    return box


def _set_caption(root: Element, description: Element, caption: str) -> None:
    box = _property(root, description, "dc:description", _ALT)
    items = box.findall(_LI)
    default = next((li for li in items if li.get(qname("xml:lang")) == "x-default"),
                   items[0] if items else None)
    if not caption:
        if default is not None:
            box.remove(default)
        return
    if default is None:
        default = SubElement(box, _LI, {qname("xml:lang"): "x-default"})
    default.text = caption


def _add_tags(root: Element, description: Element, tags: list[str]) -> None:
    box = _property(root, description, "dc:subject", _BAG)
    have = {(li.text or "").strip().casefold() for li in box.findall(_LI)}
    for tag in tags:
        if tag.casefold() not in have:
            have.add(tag.casefold())
            SubElement(box, _LI).text = tag


def _remove_tags(root: Element, gone: set[str]) -> None:
    """Drop the tags from ``dc:subject``, and hierarchical entries that end in one of them
    (digiKam and Lightroom would otherwise bring the tag back from there)."""
    lists = [("dc:subject", None), *_HIERARCHIES]
    for name, separator in lists:
        for prop in root.iter(qname(name)):
            for box in prop:
                for li in list(box.findall(_LI)):
                    value = (li.text or "").strip()
                    leaf = value.split(separator)[-1] if separator else value
                    if leaf.strip().casefold() in gone:
                        box.remove(li)


def _write_atomically(path: Path, root: Element) -> None:
    body = ElementTree.tostring(root, encoding="unicode")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(_PACKET_BEGIN + body + _PACKET_END)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
