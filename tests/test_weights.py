"""`fakescope weights`: pull from a local HTTP server (mirror, --url, resume), add offline, the refusals
(wrong sha256, HTML page, truncated file, hostile pickle, licence), and installed weights as models.

The server (127.0.0.1, started here) serves synthetic checkpoints laid out as the projects publish
them: DeepfakeBench's ``meso4Incep_best.pth`` (a detector state dict with ``backbone.`` keys, built by
the reference in test_convert_published.py) and, for the ensemble, DFDC-winner files (a
``{"state_dict", "epoch", "bce_best"}`` container of a DataParallel ``DeepFakeClassifier``). Nothing
leaves this machine.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from test_convert_published import _calibrate, _Detector, _DFBMesoInception4, _x
from torch import nn
from typer.testing import CliRunner

from fakescope.cli import app
from fakescope.models import create_model, get_model_info, list_runnable_models

runner = CliRunner()
NAME = "deepfakebench-meso4inception"  # a real catalogue entry (file meso4Incep_best.pth)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------------------ synthetic files


@functools.cache
def _meso_ref() -> nn.Module:
    torch.manual_seed(0)
    return _calibrate(_DFBMesoInception4(), _x(2, 256, seed=7))


def _bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@functools.cache
def meso_file() -> bytes:
    """meso4Incep_best.pth as DeepfakeBench publishes it: the detector's state dict."""
    return _bytes(_Detector(_meso_ref()).state_dict())


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):  # unpickling would create the marker file
        return (open, (self.marker, "w"))


class _DeepFakeClassifier(nn.Module):
    """DFDC winner training/zoo/classifiers.py DeepFakeClassifier (B0 encoder here, B7 published)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.encoder = timm.create_model("tf_efficientnet_b0", pretrained=False)
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(self.encoder.num_features, 1)

    def forward(self, x):  # kernel_utils.py: ImageNet normalisation
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        return self.fc(self.dropout(self.avg_pool(self.encoder.forward_features((x - mean) / std)).flatten(1)))


# ------------------------------------------------------------------------------------ server


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        srv = self.server
        path = self.path.split("?", 1)[0].lstrip("/")
        srv.log.append((path, self.headers.get("Range")))
        if path in getattr(srv, "endless", ()):  # no Content-Length, bytes until the client stops (≤ 64 MiB)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            try:
                for _ in range(64):
                    self.wfile.write(b"\x00" * (1 << 20))
            except OSError:
                pass
            self.close_connection = True
            return
        if path not in srv.files:
            self.send_error(404)
            return
        data, ctype = srv.files[path]
        start = 0
        rng = self.headers.get("Range")
        if rng and srv.ranges:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if path in srv.cut and srv.cut[path] > 0:  # send half, then drop the connection
            srv.cut[path] -= 1
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if path in getattr(srv, "slow", ()):  # in 8 pieces over ~1.6 s
            step = max(1, len(body) // 8)
            for i in range(0, len(body), step):
                self.wfile.write(body[i : i + step])
                self.wfile.flush()
                time.sleep(0.2)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.log, srv.cut, srv.ranges = {}, [], {}, True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/"
    yield srv
    srv.shutdown()
    srv.server_close()


def _catalogue(tmp_path, monkeypatch, text: str) -> None:
    path = tmp_path / "extra.toml"
    path.write_text(text)
    monkeypatch.setenv("FAKESCOPE_WEIGHTS_CATALOGUE", str(path))


def _nothing_installed(home: Path, name: str) -> None:
    weights = home / "weights"
    assert not (weights / name).exists()
    assert not weights.exists() or not any(p.name.startswith(".") for p in weights.iterdir())  # no staging left


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


# ---------------------------------------------------------------------------------------- tests


def test_mirror_pull_then_analyze_with_the_original_scores(server, home, monkeypatch, samples, tmp_path):
    server.files["meso4Incep_best.pth"] = (meso_file(), "application/octet-stream")
    monkeypatch.setenv("FAKESCOPE_WEIGHTS_MIRROR", server.url)
    assert NAME not in list_runnable_models()
    r = _run("weights", "pull", NAME)  # CC BY-NC: refused without acceptance, and no prompt without a tty
    assert r.exit_code == 2 and "--accept-licence" in r.output and "non-commercial" in r.output
    assert server.log == [] and not (home / "weights" / NAME).exists()

    r = _run("weights", "pull", NAME, "--accept-licence")
    assert r.exit_code == 0, r.output
    assert server.log == [("meso4Incep_best.pth", None)]
    manifest = json.loads((home / "weights" / NAME / "manifest.json").read_text())
    assert manifest["architecture"] == "mesoinception4" and manifest["model_kwargs"] == {"branch_relu": False}
    assert manifest["members"][0]["source_sha256"] == hashlib.sha256(meso_file()).hexdigest()
    recorded = json.loads((home / "recorded.json").read_text())  # no published sha256: recorded now
    assert recorded[NAME]["meso4Incep_best.pth"]["sha256"] == hashlib.sha256(meso_file()).hexdigest()
    assert not (home / "downloads" / NAME).exists()

    # a model like any other: registry, listing, Python API — with the original code's scores
    assert NAME in list_runnable_models() and get_model_info(NAME).input_size == 256
    model = create_model(NAME)
    x = _x(3, 256)
    with torch.no_grad():
        z = _meso_ref()(x)
        got = model(x)
    assert (got - (z[:, 1] - z[:, 0])).abs().max().item() < 1e-4
    r = _run("models")
    assert r.exit_code == 0 and NAME in r.output and "xception" not in r.output
    assert "xception" in _run("models", "--all").output

    r = _run("analyze", samples / "single_face.mp4", "--model", NAME, "--frames", "even:4", "--out", tmp_path / "o",
             "--no-report")  # fmt: skip
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "o" / "single_face" / "result.json").read_text())
    assert res["settings"]["model"] == NAME
    faces = [f for fr in res["frames"] for f in fr["faces"]]
    assert faces and all(0.0 <= f["p_fake"] <= 1.0 for f in faces)

    from fakescope.server.api.routes.meta import models as v1_models  # GET /v1/models

    assert NAME in [m["name"] for m in v1_models()]
    card = json.loads(_run("weights", "show", NAME).output)
    assert card["installed"] and card["licence"] == "CC-BY-NC-4.0" and card["benchmarks"][0]["value"] == 0.7583

    # the next download must be the same file as the first one
    r = _run("weights", "pull", NAME, "--accept-licence")
    assert r.exit_code == 0 and "already installed" in r.output and len(server.log) == 1
    server.files["meso4Incep_best.pth"] = (_bytes(_Detector(_DFBMesoInception4()).state_dict()), "application/x")
    r = _run("weights", "pull", NAME, "--accept-licence", "--force")
    assert r.exit_code == 1 and "recorded on first download" in r.output
    assert (home / "weights" / NAME / "manifest.json").is_file()  # the good install is kept

    r = _run("weights", "verify")
    assert r.exit_code == 0 and f"ok {NAME}" in r.output
    member = home / "weights" / NAME / "member-0.safetensors"
    member.write_bytes(member.read_bytes()[:-8] + b"\0" * 8)
    r = _run("weights", "verify", NAME)
    assert r.exit_code == 1 and "sha256" in r.output
    r = _run("weights", "remove", NAME)
    assert r.exit_code == 0 and not (home / "weights" / NAME).exists() and NAME not in list_runnable_models()


def test_pull_url_outside_the_catalogue_and_hash_in_file_name(server, home):
    data = meso_file()
    digest = hashlib.sha256(data).hexdigest()
    server.files["x.pth"] = (data, "application/octet-stream")
    r = _run("weights", "pull", "--url", server.url + "x.pth", "--name", "mine", "--format", "deepfakebench")
    assert r.exit_code == 0, r.output
    assert get_model_info("mine").family == "mesonet" and "mine" in _run("weights", "list").output
    # a file named as ICPR 2020 publishes (…_bestval-<sha256>.pth) is checked against its name
    good, bad = f"M_bestval-{digest}.pth", f"M_bestval-{'0' * 64}.pth"
    server.files[good] = server.files[bad] = (data, "application/octet-stream")
    assert _run("weights", "pull", "--url", server.url + good, "--name", "named").exit_code == 0
    r = _run("weights", "pull", "--url", server.url + bad, "--name", "misnamed")
    assert r.exit_code == 1 and "sha256" in r.output and "file name" in r.output
    _nothing_installed(home, "misnamed")
    # --sha256: checked where it enters (64 hex digits), in either letter case
    requests = len(server.log)
    for wrong in ("xyz", "ab" * 31, "g" * 64):
        r = _run("weights", "pull", "--url", server.url + "x.pth", "--name", "given", "--sha256", wrong)
        assert r.exit_code == 2 and "--sha256 must be 64 hexadecimal digits" in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1
    assert len(server.log) == requests  # nothing downloaded
    r = _run("weights", "pull", "--url", server.url + "x.pth", "--name", "given", "--format", "deepfakebench",
             "--sha256", digest.upper())  # fmt: skip
    assert r.exit_code == 0, r.output
    r = _run("weights", "pull", "--url", server.url + "x.pth", "--name", "given2", "--format", "deepfakebench",
             "--sha256", "0" * 64)  # fmt: skip
    assert r.exit_code == 1 and "does not match the given 0000000000000000" in r.output, r.output


def test_add_offline(home, tmp_path):
    path = tmp_path / "meso4Incep_best (1).pth"  # as a browser saves it
    path.write_bytes(meso_file())
    r = _run("weights", "add", path, "--name", NAME, "--accept-licence")
    assert r.exit_code == 0, r.output
    assert json.loads((home / "weights" / NAME / "manifest.json").read_text())["in_catalogue"] is True
    r = _run("weights", "add", path, "--name", "own", "--format", "deepfakebench")
    assert r.exit_code == 0, r.output
    assert create_model("own").info.name == "own"
    r = _run("weights", "add", tmp_path / "absent.pth", "--name", "other")
    assert r.exit_code == 1 and "not found" in r.output


def test_interrupted_download_resumes(server, home):
    data = meso_file()
    server.files["c.pth"] = (data, "application/octet-stream")
    server.cut["c.pth"] = 1
    r = _run("weights", "pull", "--url", server.url + "c.pth", "--name", "cut", "--format", "deepfakebench",
             "--retries", "0")  # fmt: skip
    assert r.exit_code == 1 and "interrupted" in r.output and "resume" in r.output
    part = home / "downloads" / "cut" / "c.pth.part"
    assert 0 < part.stat().st_size < len(data)
    _nothing_installed(home, "cut")
    kept = part.stat().st_size
    r = _run("weights", "pull", "--url", server.url + "c.pth", "--name", "cut", "--format", "deepfakebench")
    assert r.exit_code == 0, r.output
    assert server.log[-1] == ("c.pth", f"bytes={kept}-")  # asked only for the rest
    assert json.loads((home / "weights" / "cut" / "manifest.json").read_text())["members"][0]["source_sha256"] == (
        hashlib.sha256(data).hexdigest()
    )
    # within one pull, a broken connection is resumed automatically
    server.cut["c.pth"] = 1
    r = _run("weights", "pull", "--url", server.url + "c.pth", "--name", "cut2", "--format", "deepfakebench")
    assert r.exit_code == 0, r.output
    assert server.log[-1][1] is not None and server.log[-1][1].startswith("bytes=")


def test_refusals_leave_nothing_installed(server, home, tmp_path, monkeypatch):
    data = meso_file()
    marker = tmp_path / "payload_ran"
    hostile = _bytes({"state_dict": _Detector(_meso_ref()).state_dict(), "x": _Payload(marker)})
    html = b"<!DOCTYPE html><html><body>Google Drive can't scan this file for viruses.</body></html>"
    server.files.update({
        "wrong.pth": (data, "application/octet-stream"),
        "page.pth": (html, "application/octet-stream"),  # HTML under a checkpoint name and type
        "quota.pth": (html, "text/html; charset=utf-8"),
        "short.pth": (data[: len(data) // 2], "application/octet-stream"),
        "hostile.pth": (hostile, "application/octet-stream"),
    })  # fmt: skip
    _catalogue(tmp_path, monkeypatch, f"""
[[weights]]
name = "t-wrong"
title = "wrong sha256"
format = "deepfakebench"
[[weights.files]]
file = "wrong.pth"
url = "{server.url}wrong.pth"
sha256 = "{"ab" * 32}"

[[weights]]
name = "t-short"
title = "published size"
format = "deepfakebench"
[[weights.files]]
file = "short.pth"
url = "{server.url}short.pth"
size = {len(data)}
""")
    cases = [
        (["t-wrong"], "sha256"),
        (["t-short"], "truncated"),
        (["--url", server.url + "page.pth", "--name", "t-page"], "HTML"),
        (["--url", server.url + "quota.pth", "--name", "t-quota"], "HTML"),
        (["--url", server.url + "short.pth", "--name", "t-cut", "--format", "deepfakebench"], "cannot read"),
        (["--url", server.url + "hostile.pth", "--name", "t-hostile"],
         "hostile.pth: refused: a pickled Python object that needs code execution to load; fakescope weights never "
         "unpickles code"),
        (["--url", server.url + "absent.pth", "--name", "t-404"], "404"),
    ]
    for args, message in cases:
        r = _run("weights", "pull", *args)
        assert r.exit_code == 1, (args, r.output)
        assert message in r.output, (args, r.output)
        assert len([ln for ln in r.output.strip().splitlines() if ln.startswith("error")]) == 1
        name = args[0] if not args[0].startswith("--") else args[args.index("--name") + 1]
        _nothing_installed(home, name)
        assert not (home / "downloads" / name).exists()  # bad content is not kept for resuming
    assert not marker.exists()
    r = _run("weights", "pull", "no-such-entry")
    assert r.exit_code == 2 and "not in the weights catalogue" in r.output


def test_ensemble_entry_mirror_folder(home, tmp_path, monkeypatch):
    """A multi-file entry (as dfdc-winner-b7) from a mirror folder: the mean of the members' probabilities."""
    files = [f"final_{s}_DeepFakeClassifier_tf_efficientnet_b0_ns_0_{e}" for s, e in ((111, 36), (555, 19))]
    mirror = tmp_path / "usb"
    mirror.mkdir()
    refs = []
    for i, f in enumerate(files):
        ref = _DeepFakeClassifier(seed=i)
        _calibrate(ref, _x(2, 64, seed=7))
        refs.append(ref)
        sd = {"module." + k: v for k, v in ref.state_dict().items()}  # nn.DataParallel
        (mirror / f).write_bytes(_bytes({"epoch": 24, "state_dict": sd, "bce_best": np.float64(0.19)}))
    entry = "\n".join(f'[[weights.files]]\nfile = "{f}"\nurl = "https://example.invalid/{f}"' for f in files)
    _catalogue(tmp_path, monkeypatch, f"""
[[weights]]
name = "t-ensemble"
title = "two DFDC-winner-layout members"
format = "dfdc"
architecture = "tf_efficientnet_b0"
combine = "mean-probability"
{entry}
""")
    monkeypatch.setenv("FAKESCOPE_WEIGHTS_MIRROR", str(mirror))
    r = _run("weights", "pull", "t-ensemble")
    assert r.exit_code == 0, r.output
    model = create_model("t-ensemble")
    assert model.info.input_size == 380 and len(model.members) == 2
    x = _x(2, 64)
    with torch.no_grad():
        p = torch.stack([torch.sigmoid(ref.eval()(x)[:, 0]) for ref in refs]).mean(0)
        assert (torch.sigmoid(model(x)) - p).abs().max().item() < 1e-5
        assert p.std() > 1e-6


@pytest.mark.slow
def test_every_deepfakebench_entry_pulls_and_matches_the_original(home, tmp_path, monkeypatch):
    """The four DeepfakeBench release files, laid out as published, from a mirror folder."""
    import torch.nn.functional as F
    from test_convert import _dfb_meso4

    from fakescope.catalogue import get_entry

    ep = pytest.importorskip("efficientnet_pytorch")

    class _EffB4(nn.Module):  # training/networks/efficientnetb4.py
        def __init__(self):
            super().__init__()
            self.efficientnet = ep.EfficientNet.from_name("efficientnet-b4")
            self.efficientnet._conv_stem = nn.Conv2d(3, 48, kernel_size=3, stride=2, bias=False)
            self.efficientnet._fc = nn.Identity()
            self.last_layer = nn.Linear(1792, 2)

        def forward(self, x):
            return self.last_layer(F.adaptive_avg_pool2d(self.efficientnet.extract_features(x), 1).flatten(1))

    def dfb_norm(x):
        return (x - 0.5) / 0.5

    torch.manual_seed(0)
    # xception_best.pth: networks/xception.py is the Cadene layout (timm legacy_xception's names)
    xc = _calibrate(timm.create_model("legacy_xception", pretrained=False, num_classes=2), _x(2, 64, seed=7) * 2 - 1)
    eff = _calibrate(_EffB4(), _x(2, 64, seed=7) * 2 - 1)
    refs = {  # name: (state dict as published, reference module, its input transform, test size)
        "deepfakebench-xception": (
            {"backbone." + k.replace("fc.", "last_linear."): v for k, v in xc.state_dict().items()}, xc, dfb_norm, 64),
        "deepfakebench-efficientnetb4": (_Detector(eff).state_dict(), eff, dfb_norm, 64),
        "deepfakebench-meso4inception": (_Detector(_meso_ref()).state_dict(), _meso_ref(), None, 256),
        "deepfakebench-meso4": (_Detector(_dfb_meso4()).state_dict(), _dfb_meso4(), None, 256),
    }  # fmt: skip
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, (sd, _, _, _) in refs.items():
        torch.save(sd, mirror / get_entry(name).files[0].file)
    monkeypatch.setenv("FAKESCOPE_WEIGHTS_MIRROR", str(mirror))
    r = _run("weights", "pull", *refs, "--accept-licence")
    assert r.exit_code == 0, r.output
    for name, (_, ref, pre, size) in refs.items():
        x = _x(2, size).double()
        with torch.no_grad():  # float64: deep random networks amplify float32 rounding
            z = copy.deepcopy(ref).double()((pre or (lambda v: v))(x))  # the references are cached: copy
            got = create_model(name).double()(x)
        assert (got - (z[:, 1] - z[:, 0])).abs().max().item() < 1e-4 * max(1.0, z.abs().max().item()), name


@pytest.mark.slow
def test_icpr2020_layout_from_a_mirror(server, home, tmp_path, monkeypatch, samples):
    """An ICPR 2020 file named as published (<net>_<db>_bestval-<sha256>.pth, a plain state dict) from the
    local server: the sha256 in its name is checked, it installs, and analyze runs on it."""
    from test_convert_published import _NORM, _ICPREfficientNet

    from fakescope.catalogue import get_entry

    torch.manual_seed(0)
    ref = _calibrate(_ICPREfficientNet(att=True), _NORM(_x(2, 64, seed=7)))
    data = _bytes(ref.state_dict())
    published = get_entry("icpr2020-efficientnetb4att-dfdc").files[0].file  # the real entry's layout
    assert published.startswith("EfficientNetAutoAttB4_DFDC_bestval-")
    file = f"EfficientNetAutoAttB4_DFDC_bestval-{hashlib.sha256(data).hexdigest()}.pth"
    server.files[file] = (data, "application/octet-stream")
    _catalogue(tmp_path, monkeypatch, f"""
[[weights]]
name = "t-icpr"
title = "ICPR 2020 layout, synthetic weights"
format = "icpr2020"
architecture = "tf_efficientnet_b4_att"
[[weights.files]]
file = "{file}"
url = "https://example.invalid/{file}"
""")
    monkeypatch.setenv("FAKESCOPE_WEIGHTS_MIRROR", server.url)
    r = _run("weights", "pull", "t-icpr")
    assert r.exit_code == 0, r.output
    model = create_model("t-icpr")
    x = _x(2, 64).double()
    with torch.no_grad():
        z = copy.deepcopy(ref).double()(_NORM.double()(x))[:, 0]
        _NORM.float()
        assert (model.double()(x) - z).abs().max().item() < 1e-4 * max(1.0, z.abs().max().item())
    r = _run("analyze", samples / "single_face.jpg", "--model", "t-icpr", "--out", tmp_path / "o", "--no-report")
    assert r.exit_code == 0, r.output
    # the real entry's file from this server: its published sha256 (in the name) refuses these weights
    server.files[published] = (data, "application/octet-stream")
    monkeypatch.delenv("FAKESCOPE_WEIGHTS_CATALOGUE")
    r = _run("weights", "pull", "icpr2020-efficientnetb4att-dfdc", "--accept-licence")
    assert r.exit_code == 1 and "sha256 in the file name" in r.output
    _nothing_installed(home, "icpr2020-efficientnetb4att-dfdc")


# ---------------------------------------------------------------- names from outside text (issue 21, 1/3/5)


@pytest.mark.parametrize(
    ("entry_name", "file_name"),
    [("../../victim", "m.pth"), ("ok-name", "../../victim/m.pth"), ("ok-name", ".hidden"), ("a" * 300, "m.pth")],
)
def test_catalogue_names_that_would_leave_the_cache_are_refused(server, home, tmp_path, monkeypatch,
                                                                entry_name, file_name):  # fmt: skip
    """A shared catalogue file whose entry or file name climbs out of FAKESCOPE_HOME (with a wrong sha256, so
    that the failed install cleans up) must not write or delete anything outside the cache."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    server.files["m.pth"] = (meso_file(), "application/octet-stream")
    _catalogue(tmp_path, monkeypatch, f"""
[[weights]]
name = "{entry_name}"
title = "hostile"
architecture = "mesoinception4"
format = "deepfakebench"
licence = "MIT"
files = [{{ file = "{file_name}", url = "{server.url}m.pth", sha256 = "{'0' * 64}" }}]
""")
    r = _run("weights", "pull", entry_name)
    assert r.exit_code != 0 and r.exception is None or isinstance(r.exception, SystemExit), r.output
    assert "not a valid name" in r.output or "not a plain file name" in r.output, r.output
    assert (victim / "keep.txt").read_text() == "precious" and sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert not any(p.suffix == ".part" for p in tmp_path.rglob("*") if not p.is_relative_to(home))


def test_long_or_odd_names_give_one_line_errors(server, home):
    server.files["x.pth"] = (meso_file(), "application/octet-stream")
    r = _run("weights", "pull", "--url", server.url + "x.pth", "--name", "n" * 300)
    assert r.exit_code != 0 and not isinstance(r.exception, OSError) and "at most 200" in r.output, r.output
    assert "Traceback" not in r.output
    # a URL whose last segment is not a plain file name still installs under a safe file name
    server.files["..%2F..%2Fevil.pth"] = (meso_file(), "application/octet-stream")
    r = _run("weights", "pull", "--url", server.url + "..%2F..%2Fevil.pth", "--name", "fromurl", "--format",
             "deepfakebench")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert all(p.is_relative_to(home) for p in home.rglob("*"))


def test_remote_text_is_printed_literally(server, home):
    """A server's URL or a catalogue text containing rich markup ('[/x]', '[link=…]') is printed as it is:
    no MarkupError traceback, no injected styling (issue 21, item 7)."""
    r = _run("weights", "pull", "--url", server.url + "missing[/x].pth", "--name", "nothere")
    assert r.exit_code == 1 and r.exception is None or isinstance(r.exception, SystemExit), r.output
    assert "MarkupError" not in r.output and "[/x]" in r.output.replace("%5B", "[").replace("%5D", "]"), r.output
    r = _run("weights", "pull", "--url", server.url + "[link=http://evil.example]x[/link].pth", "--name", "nothere2")
    assert "MarkupError" not in r.output and "[link=" in r.output.replace("%5B", "["), r.output


def test_downloads_are_capped(server, home, tmp_path, monkeypatch):
    """An endless body (no Content-Length) stops at $FAKESCOPE_MAX_DOWNLOAD; a body longer than the entry's
    published size is refused; nothing is left behind (issue 21, item 2)."""
    server.endless = {"endless.pth"}
    monkeypatch.setenv("FAKESCOPE_MAX_DOWNLOAD", "2M")
    r = _run("weights", "pull", "--url", server.url + "endless.pth", "--name", "endless")
    assert r.exit_code == 1 and "larger than 2097152 bytes" in r.output, r.output
    assert not any(p.is_file() and p.suffix != ".lock" for p in home.rglob("*")), list(home.rglob("*"))
    monkeypatch.setenv("FAKESCOPE_MAX_DOWNLOAD", "lots")
    r = _run("weights", "pull", "--url", server.url + "endless.pth", "--name", "endless")
    assert r.exit_code == 1 and "is not a size" in r.output and "Traceback" not in r.output
    monkeypatch.delenv("FAKESCOPE_MAX_DOWNLOAD")
    data = meso_file()
    server.files["big.pth"] = (data, "application/octet-stream")
    _catalogue(tmp_path, monkeypatch, f"""
[[weights]]
name = "published-size"
title = "lying size"
architecture = "mesoinception4"
format = "deepfakebench"
licence = "MIT"
files = [{{ file = "big.pth", url = "{server.url}big.pth", size = {len(data) // 2} }}]
""")
    r = _run("weights", "pull", "published-size")
    assert r.exit_code == 1 and f"larger than {len(data) // 2} bytes" in r.output, r.output
    _nothing_installed(home, "published-size")


def test_concurrent_pulls_of_one_entry_both_succeed(server, home):
    """Two processes pulling the same name: the second waits for the first, neither crashes, the model is
    installed once and intact (issue 21, item 6)."""
    import os
    import subprocess
    import sys

    server.files["slow.pth"] = (meso_file(), "application/octet-stream")
    server.slow = {"slow.pth"}
    exe = Path(sys.executable).with_name("fakescope")
    cmd = [str(exe), "weights", "pull", "--url", server.url + "slow.pth", "--name", "raced", "--format",
           "deepfakebench"]  # fmt: skip
    env = {**os.environ, "FAKESCOPE_HOME": str(home)}
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert not any("Traceback" in err for _, err in outs), outs
    assert _run("weights", "verify", "raced").exit_code == 0


def test_damaged_manifest_is_pulled_again_not_a_traceback(server, home, tmp_path, monkeypatch):
    server.files["m.pth"] = (meso_file(), "application/octet-stream")
    _catalogue(tmp_path, monkeypatch, f"""
[[weights]]
name = "dm"
title = "damaged manifest"
architecture = "mesoinception4"
format = "deepfakebench"
licence = "MIT"
files = [{{ file = "m.pth", url = "{server.url}m.pth" }}]
""")
    assert _run("weights", "pull", "dm").exit_code == 0
    (home / "weights" / "dm" / "manifest.json").write_text("{damaged")
    r = _run("weights", "pull", "dm")
    assert r.exit_code == 0 and "damaged manifest" in r.output and "pulling it again" in r.output, r.output
    assert _run("weights", "verify", "dm").exit_code == 0
