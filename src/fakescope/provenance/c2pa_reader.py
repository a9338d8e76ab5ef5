"""Content Credentials (C2PA): read and validate a manifest store with ``c2pa-python``, offline.

c2pa-python (c2pa-rs) does all the reading, hashing and signature checks; this module only turns
its JSON into a :class:`~fakescope.schema.ContentCredentials`. Nothing is fetched: remote manifests
and OCSP are switched off in the reader's settings, and the signer is checked only against the trust
anchors the user gives (a PEM bundle). c2pa-rs's ``validation_state`` is ``Invalid``, ``Valid``
(signature and hashes match) or ``Trusted`` (valid and the signer chains to a trust anchor).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..errors import FakescopeError
from ..schema import C2paAction, C2paIngredient, C2paStatus, ContentCredentials

log = logging.getLogger(__name__)

__all__ = ["read_content_credentials", "load_trust_anchors", "AI_SOURCE_TYPES", "CAPTURE_SOURCE_TYPES",
           "source_type_term"]

#: IPTC digital source types that declare generative AI (https://cv.iptc.org/newscodes/digitalsourcetype/)
AI_SOURCE_TYPES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"})
#: ... and those that declare a capture of the real world
CAPTURE_SOURCE_TYPES = frozenset({"digitalCapture", "computationalCapture", "negativeFilm", "positiveFilm", "print"})

MAX_TRUST_BUNDLE = 16 << 20  # bytes of a PEM bundle
MAX_STORE_JSON = 16 << 20  # characters of the manifest store's JSON
MAX_ITEMS = 64  # actions / ingredients / failure codes kept
MAX_TEXT = 300  # characters of any one string kept from a manifest
MAX_DEPTH = 8  # ingredient manifests followed

# hash-binding failures: the asset's bytes are not those that were signed
_HASH_CODES = ("assertion.dataHash.mismatch", "assertion.bmffHash.mismatch", "assertion.boxesHash.mismatch",
               "assertion.collectionHash.mismatch")


class TrustAnchorError(FakescopeError):
    """The trust-anchor bundle is missing or holds no certificate."""


def load_trust_anchors(path: str | Path | None) -> str | None:
    """The PEM text of a bundle of trust-anchor certificates (checked: at least one parses), or None."""
    if path is None or str(path) == "":
        return None
    p = Path(path).expanduser()
    if not p.is_file():
        raise TrustAnchorError(f"--trust-anchors {p}: no such file")
    if p.stat().st_size > MAX_TRUST_BUNDLE:
        raise TrustAnchorError(f"--trust-anchors {p}: larger than {MAX_TRUST_BUNDLE >> 20} MiB")
    data = p.read_bytes()
    try:
        from cryptography import x509

        certs = x509.load_pem_x509_certificates(data)
    except (ValueError, ImportError) as e:
        raise TrustAnchorError(f"--trust-anchors {p}: not a PEM bundle of certificates ({_one_line(e)})") from None
    log.info("trust anchors: %d certificate(s) from %s", len(certs), p)
    return data.decode("ascii", errors="replace")


def source_type_term(uri: str | None) -> str | None:
    """``http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia`` → ``trainedAlgorithmicMedia``."""
    if not uri:
        return None
    return _clip(str(uri).rstrip("/").rsplit("/", 1)[-1])


def read_content_credentials(path: Path, trust_pem: str | None, warnings: list[str]) -> ContentCredentials | None:
    """The file's Content Credentials, or None when it has none (or they cannot be read: then a warning)."""
    try:
        import c2pa
    except ImportError:  # a core dependency, but never a reason to fail an analysis
        warnings.append("c2pa-python is not installed: Content Credentials were not checked")
        return None
    settings = {"verify": {"verify_trust": True, "remote_manifest_fetch": False, "ocsp_fetch": False}}
    if trust_pem:
        settings["trust"] = {"trust_anchors": trust_pem}
    try:
        ctx = c2pa.Context.from_dict(settings)
        with open(path, "rb") as fh:
            reader = c2pa.Reader.try_create(None, fh, None, ctx)
            if reader is None:
                return None
            with reader:
                text = reader.json()
    except c2pa.C2paError as e:
        msg = _one_line(e)
        if "NotSupported" in type(e).__name__ or "type is unsupported" in msg.lower():
            return None  # a format C2PA does not cover (e.g. BMP): nothing to read
        if "Remote" in type(e).__name__:
            warnings.append(f"Content Credentials are stored remotely and were not fetched (runs stay offline): {msg}")
            return None
        warnings.append(f"Content Credentials could not be read (malformed or unsupported manifest): {msg}")
        return None
    except (OSError, ValueError) as e:
        warnings.append(f"Content Credentials could not be read: {_one_line(e)}")
        return None
    if len(text) > MAX_STORE_JSON:
        warnings.append(f"Content Credentials manifest store too large ({len(text):,} characters): not read")
        return None
    try:
        store = json.loads(text)
        return _credentials(store, trusted_list=bool(trust_pem), warnings=warnings)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        warnings.append(f"Content Credentials manifest store not understood: {_one_line(e)}")
        return None


def _credentials(store: dict, trusted_list: bool, warnings: list[str]) -> ContentCredentials | None:
    manifests = store.get("manifests") or {}
    label = store.get("active_manifest")
    active = manifests.get(label) if isinstance(manifests, dict) else None
    if not isinstance(active, dict):
        warnings.append("Content Credentials present but without an active manifest")
        return None
    raw_state = str(store.get("validation_state") or "").lower()
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = [
        C2paStatus(code=_clip(f.get("code")) or "?", explanation=_clip(f.get("explanation")))
        for f in (results.get("failure") or store.get("validation_status") or [])[:MAX_ITEMS]
        if isinstance(f, dict)
    ]
    # c2pa-rs's state is the authority (trust-list codes such as signingCredential.untrusted or
    # timeStamp.untrusted leave a manifest valid); without one, any other failure makes it invalid
    integrity = [f for f in failures if not f.code.endswith(".untrusted")]
    state = raw_state if raw_state in ("trusted", "valid", "invalid") else ("invalid" if integrity else "valid")
    if state == "trusted":
        trust = "trusted"
    elif trusted_list:
        trust = "untrusted"
    else:
        trust = "not_checked"
    sig = active.get("signature_info") or {}
    actions: list[C2paAction] = []
    _collect_actions(active, manifests, None, actions, set(), 0)
    types = list(dict.fromkeys(a.digital_source_type for a in actions if a.digital_source_type))
    ingredients = [
        C2paIngredient(title=_clip(i.get("title")), format=_clip(i.get("format")),
                       relationship=_clip(i.get("relationship")), has_manifest=bool(i.get("active_manifest")))
        for i in (active.get("ingredients") or [])[:MAX_ITEMS] if isinstance(i, dict)
    ]  # fmt: skip
    cc = ContentCredentials(
        state=state,
        trust=trust,
        signer=_clip(sig.get("common_name")),
        issuer=_clip(sig.get("issuer")),
        signed_at=_clip(sig.get("time")),
        claim_generator=_claim_generator(active),
        title=_clip(active.get("title")),
        actions=actions[:MAX_ITEMS],
        digital_source_types=types,
        declares_ai=any(t in AI_SOURCE_TYPES for t in types),
        declares_capture=any(t in CAPTURE_SOURCE_TYPES for t in types),
        ingredients=ingredients,
        failures=failures,
        n_manifests=len(manifests) if isinstance(manifests, dict) else 0,
    )
    cc.summary = credentials_summary(cc)
    return cc


def _collect_actions(manifest: dict, manifests: dict, where: str | None, out: list, seen: set, depth: int) -> None:
    """Actions of a manifest and, through its ingredients, of the manifests it was made from."""
    if depth > MAX_DEPTH or len(out) >= MAX_ITEMS or id(manifest) in seen:
        return
    seen.add(id(manifest))
    for a in manifest.get("assertions") or []:
        if not isinstance(a, dict) or not str(a.get("label", "")).startswith("c2pa.actions"):
            continue
        for act in ((a.get("data") or {}).get("actions") or [])[:MAX_ITEMS]:
            if not isinstance(act, dict):
                continue
            agent = act.get("softwareAgent")
            if isinstance(agent, dict):
                agent = agent.get("name")
            out.append(C2paAction(action=_clip(act.get("action")) or "?",
                                  digital_source_type=source_type_term(act.get("digitalSourceType")),
                                  software_agent=_clip(agent), when=_clip(act.get("when")), manifest=where))
    for ing in manifest.get("ingredients") or []:
        if isinstance(ing, dict) and ing.get("active_manifest") in manifests:
            name = _clip(ing.get("title")) or "ingredient"
            _collect_actions(manifests[ing["active_manifest"]], manifests, name, out, seen, depth + 1)


def _claim_generator(m: dict) -> str | None:
    info = m.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        name, version = info[0].get("name"), info[0].get("version")
        return _clip(f"{name} {version}" if version else name)
    return _clip(m.get("claim_generator"))


def signer_text(cc: ContentCredentials) -> str:
    """``signer X (issuer Y), signer not verified against a trust list`` and the like."""
    who = cc.signer or "unknown"
    if cc.issuer and cc.issuer != cc.signer:
        who += f", {cc.issuer}"
    trust = {
        "trusted": "signer on the given trust list",
        "untrusted": "signer not on the given trust list",
        "not_checked": "signer not verified against a trust list",
    }[cc.trust]
    return f"signer {who}; {trust}"


def invalid_reason(cc: ContentCredentials) -> str:
    codes = [f.code for f in cc.failures]
    if any(c in _HASH_CODES for c in codes):
        return "the image was changed after signing"
    if any(c.startswith("claimSignature.") for c in codes):
        return "the signature does not match the manifest"
    if any(c.startswith("signingCredential.") and not c.endswith(".untrusted") for c in codes):
        return "the signing certificate is not valid"
    if any(c.startswith("assertion.") for c in codes):
        return "a manifest assertion does not match"
    return "validation failed (" + (", ".join(codes[:4]) or "no code given") + ")"


def credentials_summary(cc: ContentCredentials) -> str:
    if cc.state == "invalid":
        return f"Content Credentials present but invalid: {invalid_reason(cc)} ({signer_text(cc)})"
    what = "valid" if cc.state == "valid" else "valid and trusted"
    if cc.declares_ai:
        kind = "declared AI-generated"
        ai = [a for a in cc.actions if a.digital_source_type in AI_SOURCE_TYPES]
        if all(a.manifest for a in ai):  # only the ingredients' manifests declare it
            kind += f" (by the manifest of the ingredient {ai[0].manifest!r} it was made from)"
    elif cc.declares_capture:
        kind = "declared a camera capture"
    else:
        kind = "no AI or capture declaration"
    return f"signed Content Credentials, {what}: {kind} ({signer_text(cc)})"


def _clip(v) -> str | None:
    if v is None:
        return None
    s = str(v)
    return s if len(s) <= MAX_TEXT else s[: MAX_TEXT - 1] + "…"


def _one_line(e: BaseException) -> str:
    return (" ".join(str(e).split()) or type(e).__name__)[:300]
