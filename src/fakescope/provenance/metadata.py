"""Unsigned metadata: EXIF, XMP (IPTC ``DigitalSourceType``), PNG text chunks, JPEG comments (Pillow),
video container tags (PyAV), and the AI generators they name.

None of this is signed: anyone can strip or write it. It is *reported*, and it names a generator
prominently, but it never decides a verdict (see :mod:`fakescope.provenance.decide`).

Every read is bounded: at most :data:`MAX_FIELDS` text chunks / tags, each read up to
:data:`MAX_VALUE` characters, the XMP packet up to :data:`MAX_XMP` bytes; more gives a warning.
Pillow and PyAV parse the containers; the generator fingerprints (which chunk or phrase a tool
writes) are written here by hand, because no maintained library lists them.
"""

from __future__ import annotations

import json
import logging
import re
import warnings as _warnings
from pathlib import Path
from xml.etree import ElementTree

from ..schema import GeneratorHint

log = logging.getLogger(__name__)

MAX_FIELDS = 64  # text chunks / tags looked at
MAX_VALUE = 64 * 1024  # characters of one value read
MAX_XMP = 1 << 20  # bytes of an XMP packet parsed
EXCERPT = 160  # characters of a value shown

_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_XMP_NS = "http://ns.adobe.com/xap/1.0/"
_PHOTOSHOP_NS = "http://ns.adobe.com/photoshop/1.0/"
_EXIF_IFD = 0x8769

#: generator names looked for in fields that name a tool (Software, CreatorTool, encoder, ...)
KNOWN_GENERATORS: tuple[tuple[str, re.Pattern], ...] = tuple(
    (name, re.compile(pat, re.IGNORECASE))
    for name, pat in (
        ("Stable Diffusion", r"stable[ _-]?diffusion|\bsdxl\b"),
        ("Midjourney", r"midjourney"),
        ("DALL·E", r"\bdall[ ·-]?e\b"),
        ("Adobe Firefly", r"\bfirefly\b"),
        ("NovelAI", r"\bnovel ?ai\b"),
        ("ComfyUI", r"\bcomfy ?ui\b"),
        ("InvokeAI", r"\binvoke ?ai\b"),
        ("Fooocus", r"\bfooocus\b"),
        ("AUTOMATIC1111 web UI", r"automatic1111|\ba1111\b"),
        ("Imagen", r"\bimagen\b"),
        ("Sora", r"\bsora\b"),
        ("Runway", r"\brunway ?(ml|gen-?\d)\b"),
        ("Leonardo.Ai", r"\bleonardo\.?ai\b"),
        ("Ideogram", r"\bideogram\b"),
        ("FLUX", r"\bflux\.1\b|black forest labs"),
        ("Kling", r"\bkling ?ai\b"),
        ("Pika", r"\bpika ?labs\b"),
    )
)

# the parameter block of the AUTOMATIC1111 web UI and its forks (Forge, SD.Next, Fooocus' a1111 scheme)
_SD_PARAMS = re.compile(r"\bSteps: ?\d+.*\b(Sampler|CFG scale|Seed): ", re.DOTALL)
_SD_MODEL = re.compile(r"\bModel: ([^,\n]{1,80})")


def named_generators(text: str) -> list[str]:
    return [name for name, pat in KNOWN_GENERATORS if pat.search(text)]


def excerpt(text: str, n: int = EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


class MetadataFindings:
    """What the unsigned metadata says; filled by :func:`read_image_metadata` / :func:`read_container_tags`."""

    def __init__(self) -> None:
        self.camera: dict[str, str] = {}
        self.software: list[str] = []
        self.dates: dict[str, str] = {}
        self.digital_source_type: str | None = None
        self.hints: list[GeneratorHint] = []
        self.container: dict[str, str] = {}
        self.warnings: list[str] = []

    def hint(self, generator: str, source: str, detail: str | None = None) -> None:
        if not any(h.generator == generator and h.source == source for h in self.hints):
            self.hints.append(GeneratorHint(generator=generator, source=source,
                                            detail=None if detail is None else excerpt(detail)))

    def tool(self, value: str, source: str) -> None:
        """A field that names a tool: kept as software, and checked for generator names."""
        value = excerpt(value, 200)
        if value and value not in self.software:
            self.software.append(value)
        for name in named_generators(value):
            self.hint(name, source, value)

    def bounded(self, value, what: str) -> str:
        """``value`` as text of at most :data:`MAX_VALUE` characters (a warning when cut)."""
        if isinstance(value, bytes):
            value = value[: MAX_VALUE * 4].decode("utf-8", errors="replace")
        text = str(value)
        if len(text) > MAX_VALUE:
            self.warnings.append(f"{what} is {len(text):,} characters long: only the first {MAX_VALUE:,} were read")
            text = text[:MAX_VALUE]
        return text.replace("\x00", "")


# ----------------------------------------------------------------------------------------------- images


def read_image_metadata(path: Path, found: MetadataFindings) -> None:
    """EXIF, XMP, PNG text chunks and JPEG comments of a still image (Pillow; the header and chunks only,
    except PNG, whose text chunks after the pixel data are read by Pillow's ``text``, which decodes)."""
    from PIL import Image

    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            img = Image.open(path)
    except Exception as e:  # noqa: BLE001 - the analysis reports unreadable images itself
        found.warnings.append(f"metadata not read: {_one_line(e)}")
        return
    with img:
        _exif(img, found)
        _xmp(img, found)
        _text_chunks(img, found)


def _exif(img, found: MetadataFindings) -> None:
    try:
        exif = img.getexif()
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception as e:  # noqa: BLE001 - damaged EXIF is common; it is a warning
        found.warnings.append(f"EXIF not read: {_one_line(e)}")
        return
    for tag, key in ((0x010F, "make"), (0x0110, "model")):
        if exif.get(tag):
            found.camera[key] = excerpt(found.bounded(exif[tag], f"EXIF {key}"), 100)
    if sub.get(0xA434):
        found.camera["lens"] = excerpt(found.bounded(sub[0xA434], "EXIF lens"), 100)
    for tag, source in ((0x0131, "EXIF Software"), (0x013B, "EXIF Artist")):
        if exif.get(tag):
            found.tool(found.bounded(exif[tag], source), source)
    for tag, key, ifd in ((0x9003, "original", sub), (0x9004, "digitized", sub), (0x0132, "modified", exif)):
        if ifd.get(tag):
            found.dates[key] = excerpt(found.bounded(ifd[tag], f"EXIF date {key}"), 40)
    for tag, source in ((0x9286, "EXIF UserComment"), (0x010E, "EXIF ImageDescription")):
        value = sub.get(tag) if tag == 0x9286 else exif.get(tag)
        if value:
            _free_text(_user_comment(value) if tag == 0x9286 else value, source, found)


def _user_comment(value) -> str:
    """EXIF UserComment: an 8-byte character-code prefix, then text (UNICODE is UTF-16)."""
    if isinstance(value, bytes) and len(value) >= 8:
        code, body = value[:8], value[8 : 8 + MAX_VALUE * 2]
        if code.startswith(b"UNICODE"):
            for enc in ("utf-16-be", "utf-16-le"):
                text = body.decode(enc, errors="replace")
                if "Steps" in text or text.isprintable():
                    return text
        return body.decode("utf-8", errors="replace")
    return str(value)


def _xmp(img, found: MetadataFindings) -> None:
    raw = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
    if not raw:
        return
    if len(raw) > MAX_XMP:
        found.warnings.append(f"XMP packet is {len(raw):,} bytes: not parsed (limit {MAX_XMP:,})")
        return
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    text = _xmp_body(text)
    try:  # expat ≥ 2.4 (Python's) limits entity expansion; the text is bounded above
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as e:
        found.warnings.append(f"XMP packet not parsed: {_one_line(e)}")
        return
    for el in root.iter():
        for name, value in [(el.tag, (el.text or "").strip()), *el.attrib.items()]:
            if not value:
                continue
            if name == f"{{{_IPTC_EXT}}}DigitalSourceType":
                found.digital_source_type = excerpt(value.rstrip("/").rsplit("/", 1)[-1], 80)
            elif name == f"{{{_XMP_NS}}}CreatorTool":
                found.tool(found.bounded(value, "XMP CreatorTool"), "XMP CreatorTool")
            elif name == f"{{{_XMP_NS}}}CreateDate":
                found.dates.setdefault("created", excerpt(value, 40))
            elif name == f"{{{_XMP_NS}}}ModifyDate":
                found.dates.setdefault("modified", excerpt(value, 40))
            elif name == f"{{{_PHOTOSHOP_NS}}}DateCreated":
                found.dates.setdefault("created", excerpt(value, 40))
    if found.digital_source_type:
        from .c2pa_reader import AI_SOURCE_TYPES

        if found.digital_source_type in AI_SOURCE_TYPES:
            found.hint("an AI generator", "XMP IPTC DigitalSourceType", found.digital_source_type)


def _xmp_body(text: str) -> str:
    """The ``x:xmpmeta`` (or ``rdf:RDF``) element of an XMP packet, without the xpacket wrapper (often cut)."""
    for start, end in (("<x:xmpmeta", "</x:xmpmeta>"), ("<rdf:RDF", "</rdf:RDF>")):
        i, j = text.find(start), text.rfind(end)
        if i >= 0 and j > i:
            return text[i : j + len(end)]
    return text.strip()


def _text_chunks(img, found: MetadataFindings) -> None:
    items: dict = {}
    if img.format == "PNG":
        try:
            items = dict(img.text)  # all tEXt/zTXt/iTXt chunks, also those after the pixel data
        except Exception as e:  # noqa: BLE001 - Pillow refuses oversized compressed chunks
            found.warnings.append(f"PNG text chunks not read: {_one_line(e)}")
            items = {k: v for k, v in img.info.items() if isinstance(v, str)}
    comment = img.info.get("comment")
    if comment:
        items["JPEG comment" if img.format == "JPEG" else "comment"] = comment
    if len(items) > MAX_FIELDS:
        found.warnings.append(f"{len(items)} text chunks: only the first {MAX_FIELDS} were read")
    for key, value in list(items.items())[:MAX_FIELDS]:
        key = excerpt(str(key), 60)
        source = key if key in ("JPEG comment", "comment") else f"PNG text '{key}'"
        text = found.bounded(value, source)
        low = key.lower()
        if low == "parameters":
            model = _SD_MODEL.search(text)
            name = "Stable Diffusion (AUTOMATIC1111-style web UI)"
            found.hint(name + (f", model {model.group(1).strip()}" if model else ""), source, text)
        elif low in ("prompt", "workflow") and _comfy_json(text):
            found.hint("ComfyUI", source, text)
        elif low in ("invokeai_metadata", "invokeai_graph", "sd-metadata", "dream"):
            found.hint("InvokeAI", source, text)
        elif low == "fooocus_scheme":
            found.hint("Fooocus", source, text)
        elif low in ("software", "source"):
            found.tool(text, source)
        else:
            _free_text(text, source, found)


def _comfy_json(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    if isinstance(data, dict) and "nodes" in data:  # the editor's workflow
        return True
    return isinstance(data, dict) and any(isinstance(v, dict) and "class_type" in v for v in data.values())


def _free_text(value, source: str, found: MetadataFindings) -> None:
    """A description or comment: the SD parameter block or a Midjourney job id, not bare names (prompts
    mention tools)."""
    text = found.bounded(value, source)
    if _SD_PARAMS.search(text):
        model = _SD_MODEL.search(text)
        name = "Stable Diffusion (AUTOMATIC1111-style web UI)"
        found.hint(name + (f", model {model.group(1).strip()}" if model else ""), source, text)
    elif "Job ID:" in text and re.search(r"--(ar|v|stylize|chaos)\b", text):
        found.hint("Midjourney", source, text)


# ----------------------------------------------------------------------------------------------- videos

_CONTAINER_KEYS = ("encoder", "creation_time", "handler_name", "major_brand", "compatible_brands",
                   "com.apple.quicktime.make", "com.apple.quicktime.model", "com.apple.quicktime.software",
                   "com.apple.quicktime.creationdate", "com.android.manufacturer", "com.android.model",
                   "make", "model", "software", "comment", "title", "artist", "vendor_id")  # fmt: skip


def read_container_tags(path: Path, found: MetadataFindings) -> None:
    """Container and stream tags of a video (PyAV): encoder, creation time, handler names, device tags."""
    import av

    try:
        container = av.open(str(path), metadata_errors="replace")
    except Exception as e:  # noqa: BLE001 - the analysis reports unreadable videos itself
        found.warnings.append(f"container tags not read: {_one_line(e)}")
        return
    with container:
        tags: list[tuple[str, str]] = [(k, v) for k, v in (container.metadata or {}).items()]
        for i, stream in enumerate(list(container.streams)[:8]):
            tags += [(f"stream {i} {k}", v) for k, v in (stream.metadata or {}).items()]
    if len(tags) > MAX_FIELDS:
        found.warnings.append(f"{len(tags)} container tags: only the first {MAX_FIELDS} were read")
    for key, value in tags[:MAX_FIELDS]:
        base = key.rsplit(" ", 1)[-1].lower()
        if base not in _CONTAINER_KEYS:
            continue
        text = excerpt(found.bounded(value, f"container tag {key}"), 200)
        if not text:
            continue
        found.container[excerpt(key, 60)] = text
        if base in ("encoder", "handler_name", "software", "com.apple.quicktime.software", "comment", "artist"):
            for name in named_generators(text):
                found.hint(name, f"container tag {key}", text)
        if base in ("com.apple.quicktime.make", "com.android.manufacturer", "make"):
            found.camera.setdefault("make", text)
        if base in ("com.apple.quicktime.model", "com.android.model", "model"):
            found.camera.setdefault("model", text)
        if base in ("creation_time", "com.apple.quicktime.creationdate"):
            found.dates.setdefault("created", text)
        if base in ("encoder", "software", "com.apple.quicktime.software") and text not in found.software:
            found.software.append(text)


def _one_line(e: BaseException) -> str:
    return (" ".join(str(e).split()) or type(e).__name__)[:300]
