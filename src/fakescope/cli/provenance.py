"""``fakescope provenance FILE…``: the provenance section of ``analyze``, quickly, without face analysis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import FakescopeError
from ._options import TrustAnchors

console = Console()
err_console = Console(stderr=True)

# `--trust-anchors`, shared by `analyze`, `batch` and `provenance`


def provenance_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="Images, videos or folders of them.")],
    as_json: Annotated[bool, typer.Option("--json", help="As JSON (a list: path and provenance, or error).")] = False,
    trust_anchors: TrustAnchors = None,
) -> None:
    """Content Credentials (C2PA), camera/software metadata and generator traces of files (no face analysis)."""
    from ..media import find_media
    from ..provenance import ProvenanceReader

    try:
        reader = ProvenanceReader(trust_anchors)
    except FakescopeError as e:
        err_console.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    files, missing = find_media(list(inputs))
    rows: list[dict] = [{"path": str(p), "error": msg} for p, msg in missing]
    for path in files:
        rows.append({"path": str(path), "provenance": reader(path).model_dump(mode="json")})
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        for row in rows:
            if "provenance" in row:
                _print_plain(row["path"], row["provenance"])
    for row in rows:
        if "error" in row:
            err_console.print(f"[red]error:[/red] {escape(row['error'])}", highlight=False, soft_wrap=True)
    if any("error" in row for row in rows):
        raise typer.Exit(1)


def _print_plain(path: str, prov: dict) -> None:
    """One block per file; every value from the file is printed literally (no rich markup)."""
    out = [path]
    out += [f"  • {line}" for line in prov["summary"]]
    cc = prov.get("content_credentials")
    if cc:
        out.append(f"  Content Credentials: {cc['state']} (trust: {cc['trust'].replace('_', ' ')}), "
                   f"{cc['n_manifests']} manifest(s)")
        for key, label in (("signer", "signer"), ("issuer", "issuer"), ("signed_at", "signed at"),
                           ("claim_generator", "claim generator"), ("title", "title")):  # fmt: skip
            if cc.get(key):
                out.append(f"    {label}: {cc[key]}")
        for a in cc["actions"]:
            src = f" ({a['digital_source_type']})" if a.get("digital_source_type") else ""
            agent = f" by {a['software_agent']}" if a.get("software_agent") else ""
            where = f" [in ingredient {a['manifest']}]" if a.get("manifest") else ""
            out.append(f"    action: {a['action']}{src}{agent}{where}")
        for i in cc["ingredients"]:
            out.append(f"    ingredient: {i.get('title') or '?'} ({i.get('relationship') or '?'}"
                       f"{', with its own manifest' if i.get('has_manifest') else ''})")
        for f in cc["failures"]:
            out.append(f"    failure: {f['code']}" + (f" — {f['explanation']}" if f.get("explanation") else ""))
    for key, values in (("camera", prov["camera"]), ("dates", prov["dates"]), ("container", prov["container"])):
        if values:
            out.append(f"  {key}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
    if prov["software"]:
        out.append("  software: " + ", ".join(prov["software"]))
    if prov.get("digital_source_type"):
        out.append(f"  XMP DigitalSourceType (unsigned): {prov['digital_source_type']}")
    for h in prov["generator_hints"]:
        out.append(f"  generator hint: {h['generator']} — {h['source']}" + (f": {h['detail']}" if h.get("detail")
                                                                              else ""))
    for w in prov["warnings"]:
        out.append(f"  warning: {w}")
    console.print("\n".join(out), markup=False, highlight=False, soft_wrap=True)
