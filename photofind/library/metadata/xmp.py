"""XMP packets, embedded or in a sidecar: captions, titles, flat and hierarchical tags,
named face and pet regions, dates."""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeElementTree

from photofind.library.metadata.found import Found
from photofind.library.metadata.texts import clean

NAMESPACES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xml": "http://www.w3.org/XML/1998/namespace",
    "dc": "http://purl.org/dc/elements/1.1/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "MPReg": "http://ns.microsoft.com/photo/1.2/t/Region#",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
}


def qname(name: str) -> str:
    """'dc:title' in ElementTree's spelling, '{http://purl.org/dc/elements/1.1/}title'."""
    prefix, local = name.split(":")
    return f"{{{NAMESPACES[prefix]}}}{local}"


_RDF_LI, _RDF_ALT, _XML_LANG = qname("rdf:li"), qname("rdf:Alt"), qname("xml:lang")
_RDF_CONTAINERS = {_RDF_ALT, qname("rdf:Bag"), qname("rdf:Seq")}

_XMP_TEXTS = (  # (property, kind), read in this order
    ("dc:description", "caption"),
    ("dc:title", "title"),
    ("photoshop:Headline", "title"),
    ("dc:subject", "tag"),
)
_XMP_HIERARCHIES = (("lr:hierarchicalSubject", "|"), ("digiKam:TagsList", "/"))
_XMP_REGIONS = (("mwg-rs:Name", "mwg-rs:Type"), ("MPReg:PersonDisplayName", None))
_XMP_DATES = ("exif:DateTimeOriginal", "photoshop:DateCreated", "xmp:CreateDate")
_PERSON_REGION_TYPES = frozenset({"face", "pet"})  # a pet's name is searched like a person's


def _rdf_values(prop: Element) -> list[str]:
    """Values of one property element: a lang-alt gives x-default (else its first entry)."""
    container = next((child for child in prop if child.tag in _RDF_CONTAINERS), None)
    if container is None:
        return [prop.text or ""]
    items = container.findall(_RDF_LI)
    if container.tag == _RDF_ALT:
        default = [item for item in items if item.get(_XML_LANG) == "x-default"]
        items = (default or items)[:1]
    return [item.text or "" for item in items]


def _xmp_values(root: Element, prop: str) -> list[str]:
    """All values of an XMP property, whether written as attribute or element."""
    name = qname(prop)
    values = []
    for element in root.iter():
        if name in element.attrib:
            values.append(element.attrib[name])
        if element.tag == name:
            values.extend(_rdf_values(element))
    return values


def _own_value(element: Element, name: str) -> str | None:
    """A simple property of a struct, as attribute of `element` or as its child element."""
    if name in element.attrib:
        return element.attrib[name]
    child = element.find(name)
    return None if child is None else child.text or ""


def _region_names(root: Element, name_prop: str, type_prop: str | None) -> list[str]:
    """Names of image regions showing a face or pet (untyped regions count too)."""
    name_q, type_q = qname(name_prop), type_prop and qname(type_prop)
    names = []
    for element in root.iter():
        name = _own_value(element, name_q)
        region_type = _own_value(element, type_q) if type_q else None
        if name is not None and clean(region_type or "face").casefold() in _PERSON_REGION_TYPES:
            names.append(name)
    return names


def read_xmp(data: bytes | str, found: Found, file: str) -> None:
    """Captions, tags, people and dates from one XMP packet (embedded or sidecar)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    root = SafeElementTree.fromstring(data.strip(b"\x00 \t\r\n"))
    for prop, kind in _XMP_TEXTS:
        for value in _xmp_values(root, prop):
            found.add(kind, value, f"xmp:{prop}", file)
    for prop, separator in _XMP_HIERARCHIES:
        for value in _xmp_values(root, prop):
            found.add_path(value.split(separator), f"xmp:{prop}", file)
    for name_prop, type_prop in _XMP_REGIONS:
        for name in _region_names(root, name_prop, type_prop):
            found.add("person", name, f"xmp:{name_prop}", file)
    for prop in _XMP_DATES:
        for value in _xmp_values(root, prop)[:1]:
            found.add_date(f"xmp:{prop}", value)


def read_xmp_file(path: Path, found: Found) -> None:
    read_xmp(path.read_bytes(), found, str(path))
