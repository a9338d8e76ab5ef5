"""Provenance beside pixels (issue 25): real Content Credentials signed here with c2pa-python and a test
certificate chain made here, unsigned metadata (SD parameters, ComfyUI, camera EXIF, XMP), damaged and
huge metadata, the verdict rules, `fakescope provenance`, `fakescope analyze`, the server and the web app."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from typer.testing import CliRunner

c2pa = pytest.importorskip("c2pa")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

from fakescope.cli import app  # noqa: E402
from fakescope.provenance import ProvenanceReader, apply_provenance, read_provenance  # noqa: E402
from fakescope.schema import ContentCredentials, GeneratorHint, Provenance, Verdict  # noqa: E402

runner = CliRunner()
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
SIGNER_CN = "fakescope test signer"
SIGNER_ORG = "Example Generator Lab"


# ------------------------------------------------------------------------------------------ fixtures


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


def _ca(cn: str):
    """An ES256 root CA (basicConstraints CA, keyCertSign)."""
    now = dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(cn, "fakescope tests")
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, cert


def _leaf(ca_key, ca_cert):
    """The end-entity signing certificate C2PA accepts: not a CA, digitalSignature, emailProtection EKU,
    issued by the CA (a self-signed leaf is refused)."""
    now = dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(_name(SIGNER_CN, SIGNER_ORG)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    return key, cert


def _pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _sign(signer, source: bytes, source_type: str) -> bytes:
    manifest = {
        "claim_generator_info": [{"name": "fakescope-tests", "version": "1.0"}],
        "title": "signed.jpg",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [
            {"action": "c2pa.created", "digitalSourceType": IPTC + source_type}]}}],
    }  # fmt: skip
    out = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        builder.sign(signer, "image/jpeg", io.BytesIO(source), out)
    return out.getvalue()


def _entropy_start(data: bytes) -> int:
    """First byte of the main image's entropy-coded data (after its last SOS header)."""
    sos = data.rfind(b"\xff\xda")
    return sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")


@pytest.fixture(scope="session")
def media(tmp_path_factory, samples) -> dict[str, Path]:
    """Every test file, made once: signed (AI, capture), tampered, malformed, unsigned metadata, plain."""
    d = tmp_path_factory.mktemp("provenance")
    ca_key, ca = _ca("fakescope test root")
    _, other_ca = _ca("some other root")
    key, leaf = _leaf(ca_key, ca)
    (d / "ca.pem").write_bytes(_pem(ca))
    (d / "other_ca.pem").write_bytes(_pem(other_ca))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, _pem(leaf) + _pem(ca), key_pem, None)
    face = Image.open(samples / "single_face.jpg").convert("RGB")
    buf = io.BytesIO()
    face.save(buf, "JPEG", quality=92)  # no metadata at all
    plain = buf.getvalue()
    (d / "plain.jpg").write_bytes(plain)
    with c2pa.Signer.from_info(info) as signer:
        ai = _sign(signer, plain, "trainedAlgorithmicMedia")
        capture = _sign(signer, plain, "digitalCapture")
    (d / "ai.jpg").write_bytes(ai)
    edited = {  # the AI image opened and edited: the declaration sits in its ingredient's manifest
        "claim_generator_info": [{"name": "some editor", "version": "2"}], "title": "edited.jpg",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": ["gen"]}}, {"action": "c2pa.cropped"}]}}],
    }  # fmt: skip
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(edited) as builder:
        builder.add_ingredient({"title": "gen.jpg", "relationship": "parentOf", "label": "gen"}, "image/jpeg",
                               io.BytesIO(ai))
        out = io.BytesIO()
        builder.sign(signer, "image/jpeg", io.BytesIO(plain), out)
    (d / "edited.jpg").write_bytes(out.getvalue())
    (d / "capture.jpg").write_bytes(capture)
    tampered = bytearray(ai)  # pixels changed after signing: the manifest still reads, its hash fails
    start = _entropy_start(ai)
    for i in range(start + 100, start + 140):
        if tampered[i] not in (0x00, 0xFF):
            tampered[i] ^= 0x55
    (d / "tampered.jpg").write_bytes(bytes(tampered))
    corrupt = bytearray(ai)  # the JUMBF box itself damaged
    j = corrupt.find(b"jumb")
    for i in range(j + 40, j + 400):
        corrupt[i] ^= 0xA5
    (d / "corrupt.jpg").write_bytes(bytes(corrupt))

    small = face.resize((128, 128))
    sd = PngImagePlugin.PngInfo()
    sd.add_text("parameters", "portrait of a woman, studio light\nNegative prompt: blurry\nSteps: 30, Sampler: "
                "DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x512, Model: sd_xl_base_1.0")
    small.save(d / "sd.png", pnginfo=sd)
    comfy = PngImagePlugin.PngInfo()
    comfy.add_text("prompt", json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}))
    small.save(d / "comfy.png", pnginfo=comfy)
    huge = PngImagePlugin.PngInfo()
    huge.add_text("parameters", "Steps: 20, Sampler: Euler, " + "x" * 3_000_000)
    small.save(d / "huge.png", pnginfo=huge)
    bomb = PngImagePlugin.PngInfo()
    bomb.add_text("bomb", "y" * 3_000_000, zip=True)  # Pillow refuses to inflate it: a warning
    small.save(d / "bomb.png", pnginfo=bomb)

    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "Canon EOS R5", "Firmware Version 1.8.1"
    exif.get_ifd(0x8769)[0x9003] = "2024:05:01 10:00:00"
    face.save(d / "camera.jpg", quality=92, exif=exif)
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
           b'Iptc4xmpExt:DigitalSourceType="' + IPTC.encode() + b'trainedAlgorithmicMedia"/></rdf:RDF></x:xmpmeta>')
    face.save(d / "xmp_ai.jpg", quality=92, xmp=xmp)
    return {p.stem: p for p in d.iterdir()}


# ---------------------------------------------------------------------------------- Content Credentials


def test_signed_ai_image_is_declared_ai_valid_and_not_verified_without_anchors(media):
    p = read_provenance(media["ai"])
    cc = p.content_credentials
    assert cc is not None and cc.state == "valid" and cc.trust == "not_checked"
    assert cc.declares_ai and not cc.declares_capture
    assert cc.signer == SIGNER_CN and cc.issuer == SIGNER_ORG
    assert cc.claim_generator.startswith("fakescope-tests 1.0")
    assert [(a.action, a.digital_source_type) for a in cc.actions] == [("c2pa.created", "trainedAlgorithmicMedia")]
    assert "declared AI-generated" in p.summary[0] and "signer not verified against a trust list" in p.summary[0]
    assert not p.warnings


def test_ai_declaration_in_an_ingredient_manifest_counts(media):
    cc = read_provenance(media["edited"]).content_credentials
    assert cc.state == "valid" and cc.declares_ai and cc.n_manifests == 2 and cc.claim_generator == "some editor 2"
    assert [(a.action, a.manifest) for a in cc.actions] == [
        ("c2pa.opened", None), ("c2pa.cropped", None), ("c2pa.created", "gen.jpg")]
    assert cc.ingredients[0].title == "gen.jpg" and cc.ingredients[0].has_manifest
    assert "ingredient 'gen.jpg' it was made from" in cc.summary


def test_trust_anchors_make_the_signer_trusted_and_another_list_does_not(media):
    trusted = ProvenanceReader(media["ca"])(media["ai"]).content_credentials
    assert trusted.state == "trusted" and trusted.trust == "trusted"
    other = ProvenanceReader(media["other_ca"])(media["ai"]).content_credentials
    assert other.state == "valid" and other.trust == "untrusted"
    assert "signer not on the given trust list" in other.summary


def test_signed_capture_is_declared_capture(media):
    cc = read_provenance(media["capture"]).content_credentials
    assert cc.state == "valid" and cc.declares_capture and not cc.declares_ai
    assert cc.digital_source_types == ["digitalCapture"]


def test_pixels_changed_after_signing_make_the_credentials_invalid(media):
    p = read_provenance(media["tampered"])
    cc = p.content_credentials
    assert cc.state == "invalid" and cc.declares_ai  # still readable, no longer bound to the pixels
    assert "assertion.dataHash.mismatch" in [f.code for f in cc.failures]
    assert "present but invalid: the image was changed after signing" in cc.summary


def test_malformed_manifest_is_a_warning_not_a_crash(media):
    p = read_provenance(media["corrupt"])
    assert p.content_credentials is None
    assert any("Content Credentials could not be read" in w for w in p.warnings)


def test_bad_trust_anchor_bundle_is_refused(tmp_path):
    from fakescope.provenance import TrustAnchorError

    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(TrustAnchorError, match="not a PEM bundle"):
        ProvenanceReader(bad)
    with pytest.raises(TrustAnchorError, match="no such file"):
        ProvenanceReader(tmp_path / "missing.pem")


# -------------------------------------------------------------------------------------- unsigned metadata


def test_sd_parameters_and_comfyui_are_named_as_unsigned(media):
    sd = read_provenance(media["sd"])
    assert sd.content_credentials is None
    assert [h.source for h in sd.generator_hints] == ["PNG text 'parameters'"]
    assert "Stable Diffusion" in sd.generator_hints[0].generator and "sd_xl_base_1.0" in sd.generator_hints[0].generator
    assert any("unsigned, easily removed or forged" in line for line in sd.summary)
    comfy = read_provenance(media["comfy"])
    assert [h.generator for h in comfy.generator_hints] == ["ComfyUI"]


def test_camera_exif_and_unsigned_xmp_source_type(media):
    cam = read_provenance(media["camera"])
    assert cam.camera == {"make": "Canon", "model": "Canon EOS R5"}
    assert cam.dates["original"] == "2024:05:01 10:00:00" and cam.software == ["Firmware Version 1.8.1"]
    assert not cam.generator_hints and cam.content_credentials is None
    xmp = read_provenance(media["xmp_ai"])
    assert xmp.digital_source_type == "trainedAlgorithmicMedia"
    assert [h.source for h in xmp.generator_hints] == ["XMP IPTC DigitalSourceType"]


def test_stripped_file_has_nothing_and_says_absence_is_no_evidence(media):
    p = read_provenance(media["plain"])
    assert p.content_credentials is None and not p.generator_hints and not p.camera and not p.warnings
    assert "says nothing" in p.summary[0]


def test_huge_text_chunks_are_cut_with_a_warning(media):
    t0 = time.perf_counter()
    p = read_provenance(media["huge"])
    assert time.perf_counter() - t0 < 10
    assert any("'parameters' is 3,000,027 characters long: only the first 65,536" in w for w in p.warnings)
    assert "Stable Diffusion" in p.generator_hints[0].generator  # still read, from the first part
    assert len(p.model_dump_json()) < 20_000  # nothing huge is kept
    bomb = read_provenance(media["bomb"])  # Pillow refuses to inflate a 3 MB zTXt chunk
    assert any("metadata not read" in w and "MAX_TEXT_CHUNK" in w for w in bomb.warnings)


def test_video_container_tags(samples):
    p = read_provenance(samples / "single_face.mp4")
    assert p.container.get("encoder", "").startswith("Lavf") and "stream 0 handler_name" in p.container
    assert p.content_credentials is None and not p.warnings


# ------------------------------------------------------------------------------------------ verdict rules


def _cc(**kw) -> ContentCredentials:
    base = dict(state="valid", trust="not_checked", signer="S", issuer="Org")
    return ContentCredentials(**{**base, **kw})


REAL = Verdict(label="real", score=0.1, reason="identity #1 judged real")
FAKE = Verdict(label="fake", score=0.9, reason="identity #1 judged fake", fake_tracks=[1])
NOFACE = Verdict(label="inconclusive", score=None, reason="no face found")


@pytest.mark.parametrize("detector", [REAL, FAKE, NOFACE])
def test_valid_ai_declaration_makes_it_fake_whatever_the_detector_says(detector):
    v = apply_provenance(detector, Provenance(content_credentials=_cc(declares_ai=True)))
    assert v.label == "fake" and v.basis == "declaration" and v.flags == ["declared_ai"]
    assert v.reason.startswith("declared AI-generated by its signed Content Credentials (signer S, Org; signer not "
                               "verified against a trust list)")
    assert v.detector_label == detector.label and v.detector_score == detector.score
    assert detector.basis == "detector" and detector.flags == []  # the input verdict is not changed


def test_invalid_credentials_are_flagged_and_change_no_label():
    from fakescope.schema import C2paStatus

    cc = _cc(state="invalid", declares_ai=True, failures=[C2paStatus(code="assertion.dataHash.mismatch")])
    v = apply_provenance(REAL, Provenance(content_credentials=cc))
    assert v.label == "real" and v.score == 0.1 and v.basis == "detector" and v.flags == ["credentials_invalid"]
    assert v.reason == "Content Credentials present but invalid: the image was changed after signing; " + REAL.reason


def test_capture_is_reported_but_never_overrides_a_fake_face():
    v = apply_provenance(FAKE, Provenance(content_credentials=_cc(declares_capture=True)))
    assert v.label == "fake" and v.basis == "detector" and v.fake_tracks == [1] and v.flags == ["declared_capture"]
    assert v.reason.startswith(FAKE.reason) and "declare a camera capture" in v.reason


def test_unsigned_generator_metadata_is_named_but_moves_nothing():
    prov = Provenance(generator_hints=[GeneratorHint(generator="ComfyUI", source="PNG text 'prompt'")])
    v = apply_provenance(REAL, prov)
    assert v.label == "real" and v.score == 0.1 and v.flags == ["metadata_ai"]
    assert "metadata says made by ComfyUI (unsigned, easily removed or forged)" in v.reason


@pytest.mark.parametrize("prov", [None, Provenance()])
def test_missing_provenance_changes_nothing(prov):
    assert apply_provenance(REAL, prov) == REAL


# ----------------------------------------------------------------------------------------- command line


def test_provenance_command_plain_json_and_errors(media, tmp_path):
    r = runner.invoke(app, ["provenance", str(media["ai"]), str(media["tampered"])])
    assert r.exit_code == 0, r.output
    assert "declared AI-generated" in r.output and "changed after signing" in r.output and SIGNER_CN in r.output
    r = runner.invoke(app, ["provenance", "--json", "--trust-anchors", str(media["ca"]), str(media["ai"])])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows[0]["provenance"]["content_credentials"]["state"] == "trusted"
    r = runner.invoke(app, ["provenance", str(tmp_path / "missing.jpg")])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    r = runner.invoke(app, ["provenance", "--trust-anchors", str(tmp_path / "none.pem"), str(media["ai"])])
    assert r.exit_code == 2 and "no such file" in r.stderr


@pytest.mark.parametrize("command", ["analyze", "batch"])
def test_a_missing_trust_anchor_bundle_is_a_usage_error(media, tmp_path, command):
    r = runner.invoke(app, [command, str(media["plain"]), "--out", str(tmp_path / "out"),
                            "--trust-anchors", str(tmp_path / "none.pem")])  # fmt: skip
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "--trust-anchors" in r.stderr and "no such file" in r.stderr and not (tmp_path / "out").exists()


def test_markup_in_metadata_is_printed_literally(tmp_path):
    img = Image.new("RGB", (32, 32))
    exif = Image.Exif()
    exif[0x0131] = "[bold red]Stable Diffusion[/]"
    img.save(tmp_path / "m.jpg", exif=exif)
    r = runner.invoke(app, ["provenance", str(tmp_path / "m.jpg")])
    assert r.exit_code == 0 and "[bold red]Stable Diffusion[/]" in r.output


def test_analyze_declared_ai_is_fake_by_declaration_and_plain_verdict_is_unchanged(media, tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(app, ["analyze", str(media["ai"]), str(media["plain"]), str(media["capture"]), "-o", str(out)])
    assert r.exit_code == 0, r.output
    ai = json.loads((out / "ai" / "result.json").read_text())
    assert ai["schema_version"] == "1.4"
    assert ai["verdict"]["label"] == "fake" and ai["verdict"]["basis"] == "declaration"
    assert ai["verdict"]["reason"].startswith("declared AI-generated by its signed Content Credentials")
    assert ai["provenance"]["content_credentials"]["declares_ai"]
    html = (out / "ai" / "report.html").read_text()
    assert "by declaration" in html and "declared AI-generated" in html and "id='provenance'" in html
    assert "The face detector alone" in html
    plain = json.loads((out / "plain" / "result.json").read_text())
    capture = json.loads((out / "capture" / "result.json").read_text())
    assert plain["verdict"]["flags"] == [] and plain["provenance"]["content_credentials"] is None
    # the same pixels: the capture declaration is reported, the detector's verdict stands
    assert capture["verdict"]["label"] == plain["verdict"]["label"] == ai["verdict"]["detector_label"]
    assert capture["verdict"]["flags"] == ["declared_capture"] and capture["verdict"]["basis"] == "detector"
    # the plain JPEG's verdict is the same without the provenance stage
    out2 = tmp_path / "out2"
    r = runner.invoke(app, ["analyze", "--no-provenance", str(media["plain"]), "-o", str(out2)])
    assert r.exit_code == 0, r.output
    bare = json.loads((out2 / "plain" / "result.json").read_text())
    assert bare["provenance"] is None
    assert {k: bare["verdict"][k] for k in ("label", "score", "reason")} == {
        k: plain["verdict"][k] for k in ("label", "score", "reason")
    }


# ------------------------------------------------------------------------------------- server and web app


def test_server_result_carries_provenance_and_the_declaration(media, tmp_path):
    pytest.importorskip("fastapi")
    pytest.importorskip("pydantic_settings")
    from fastapi.testclient import TestClient

    from fakescope.server.main import create_app
    from fakescope.server.settings import ServerSettings

    settings = ServerSettings(data_dir=tmp_path, ui=False, annotate=False, report=False, trust_anchors=media["ca"])
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/analyses", files={"file": ("photo.jpg", media["ai"].read_bytes())})
        assert r.status_code == 202, r.text
        end = time.monotonic() + 120
        while (job := client.get(f"/v1/analyses/{r.json()['id']}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < end
            time.sleep(0.1)
    assert job["status"] == "done", job["error"]
    res = job["result"]
    assert res["verdict"]["label"] == "fake" and res["verdict"]["basis"] == "declaration"
    cc = res["provenance"]["content_credentials"]
    assert cc["state"] == "trusted" and "signer on the given trust list" in res["verdict"]["reason"]
    assert res["provenance"]["trust_anchors"] == "ca.pem" and str(tmp_path) not in json.dumps(res)


def test_server_refuses_a_missing_trust_anchor_bundle(tmp_path):
    pytest.importorskip("pydantic_settings")
    from pydantic import ValidationError

    from fakescope.server.settings import ServerSettings

    with pytest.raises(ValidationError, match="no such file"):
        ServerSettings(data_dir=tmp_path, trust_anchors=tmp_path / "missing.pem")


def test_web_app_shows_the_provenance_section(media):
    pytest.importorskip("gradio")
    from fakescope.server.webapp import _verdict_html

    prov = read_provenance(media["tampered"])
    verdict = apply_provenance(NOFACE, prov)
    result = {"verdict": verdict.model_dump(), "settings": {"model": "m"}, "input": {"name": "x.jpg"},
              "tracks": [], "frames": [], "warnings": [], "provenance": prov.model_dump(mode="json")}
    html = _verdict_html(result)
    assert "Provenance" in html and "assertion.dataHash.mismatch" in html and "changed after signing" in html


def test_a_png_text_bomb_is_analysed_without_its_text_and_says_so(media, tmp_path):
    """Pillow refuses a PNG whose compressed text chunk inflates past its limit; the pixels are still read
    (without the text chunks) and the result carries a warning instead of failing."""
    from fakescope.media import open_media
    from fakescope.media.image import TEXT_BOMB_NOTE, _without_png_text, load_image

    src = open_media(media["bomb"])
    assert TEXT_BOMB_NOTE in src.warnings and src.info.width == 128
    pixels = load_image(media["bomb"])
    plain = tmp_path / "plain.png"
    plain.write_bytes(_without_png_text(media["bomb"].read_bytes()))
    assert pixels.shape == (128, 128, 3) and (pixels == load_image(plain)).all()
    assert len(plain.read_bytes()) < len(media["bomb"].read_bytes())
    r = runner.invoke(app, ["analyze", str(media["bomb"]), "--out", str(tmp_path / "out"), "--no-report"])
    assert r.exit_code == 0, r.output
    result = json.loads(next((tmp_path / "out").rglob("result.json")).read_text())
    assert TEXT_BOMB_NOTE in result["warnings"]
