"""What `fakescope weights list` shows (sizes, checksum status, the published number it quotes), how `weights
add` honours what it is told, local (mirror-folder) copies, and the catalogue's name suggestions — fast tests of
the catalogue's decision code (mutation group "catalogue", issue 21)."""

from __future__ import annotations

import calendar
import contextlib
import json
import os
import time

import pytest
import torch
from safetensors.torch import save_file
from test_convert_clip_vit import gend_state_dict
from test_weights import NAME, meso_file
from test_weights import _catalogue as _write_catalogue

from fakescope.catalogue.download import DownloadError, fetch, source_for
from fakescope.catalogue.entries import get_entry
from fakescope.catalogue.install import LicenceNotAccepted, _accuracy, _size, add, list_rows
from fakescope.errors import UnknownNameError, WeightsError


@pytest.mark.parametrize(("n", "text"), [
    (0, "0 B"), (999, "999 B"), (1000, "1 kB"), (1499, "1 kB"), (999_999, "1000 kB"), (1_000_000, "1.0 MB"),
    (1_050_000, "1.1 MB"), (1_234_567_890, "1234.6 MB"),
])  # fmt: skip
def test_sizes_in_words(n, text):
    assert _size(n) == text


def test_the_quoted_number_is_the_best_cross_dataset_one():
    assert _accuracy([]) == "none published"
    marks = [
        {"dataset": "FaceForensics++ c23", "metric": "AUC", "value": 0.99},
        {"dataset": "ff++ raw", "metric": "AUC", "value": 0.995},  # FF++ in any case: not cross-dataset
        {"dataset": "Celeb-DF v2", "metric": "video AUC", "value": 0.9012},
        {"dataset": "DFDC", "metric": "AUC", "value": 0.8},
    ]
    assert _accuracy(marks) == "video AUC 0.90 on Celeb-DF v2 (authors')"
    only_ff = marks[:2]
    assert _accuracy(only_ff) == "AUC 0.99 on FaceForensics++ c23 (authors')"  # the first, when all are FF++
    # a competition rank is quoted as published; a number only counts when it is a number (not a flag)
    assert _accuracy([{"dataset": "DFDC private", "metric": "rank", "value": "1st"}]) == \
        "rank 1st on DFDC private (authors')"
    assert _accuracy([{"dataset": "DFDC", "metric": "AUC", "value": True},
                      {"dataset": "CDF", "metric": "AUC", "value": 0.7}]) == "AUC 0.70 on CDF (authors')"
    assert _accuracy([{"value": 0.5}]) == "? 0.50 on ? (authors')"
    assert _accuracy([{"metric": "AUC"}]) == "AUC ? on ? (authors')"


@contextlib.contextmanager
def _clock_14_hours_ahead():
    """The machine's local time zone set to UTC+14, then restored: a time written as local instead of UTC shows."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Etc/GMT-14"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def _utc_now_within(stamp: str, seconds: float = 600) -> bool:
    """``stamp`` ("…Z") is the current UTC time, give or take ``seconds``."""
    return abs(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.time()) < seconds


def _catalogue(tmp_path, monkeypatch, text: str | None = None) -> None:
    """An extra catalogue file (FAKESCOPE_WEIGHTS_CATALOGUE): ``text``, by default the entries t-sized and t-open."""
    _write_catalogue(tmp_path, monkeypatch, _ENTRIES if text is None else text)


_ENTRIES = """
[[weights]]
name = "t-sized"
title = "sized"
format = "deepfakebench"
architecture = "meso4"
licence = "MIT"
benchmarks = [{ dataset = "DFDC", metric = "AUC", value = 0.75 }]
[[weights.files]]
file = "a-0123.pth"
url = "https://example.invalid/a.pth"
size = 1500000
sha256 = "00"
sha256_source = "published in the file name"

[[weights]]
name = "t-open"
title = "nothing published"
format = "deepfakebench"
licence = "MIT"
[[weights.files]]
file = "b.pth"
url = "https://example.invalid/b.pth"
"""


def test_weights_list_says_what_is_published_and_what_was_measured(home, tmp_path, monkeypatch):
    _catalogue(tmp_path, monkeypatch)
    rows = {r["name"]: r for r in list_rows()}
    sized, open_ = rows["t-sized"], rows["t-open"]
    assert (sized["size"], sized["sha256"], sized["accuracy"]) == ("1.5 MB", "published (in the file name)",
                                                                   "AUC 0.75 on DFDC (authors')")  # fmt: skip
    assert (sized["files"], sized["installed"], sized["licence"], sized["restricted"]) == (1, False, "MIT", False)
    assert (open_["size"], open_["sha256"], open_["accuracy"]) == (
        "not published (measured at first download)", "recorded on first download (pending)", "none published")
    home.mkdir(parents=True, exist_ok=True)
    (home / "recorded.json").write_text(json.dumps({"t-open": {"b.pth": {"size": 2_500_000, "sha256": "ab"}}}))
    open_ = {r["name"]: r for r in list_rows()}["t-open"]
    assert (open_["size"], open_["sha256"]) == ("2.5 MB (measured at first download)", "recorded on first download")
    # installed outside the catalogue: its own row, from its manifest
    path = tmp_path / "mine.pth"
    path.write_bytes(meso_file())
    add([path], "mine", format="deepfakebench")
    mine = {r["name"]: r for r in list_rows()}["mine"]
    assert mine["installed"] and mine["files"] == 1 and mine["architecture"] == "mesoinception4"
    assert mine["size"] == f"{_size(path.stat().st_size)} (at install)"
    assert (mine["sha256"], mine["accuracy"]) == ("recorded at install", "unknown (not in the catalogue)")
    assert mine["licence"] == "unknown (not in the catalogue: check the source's terms)" and not mine["restricted"]
    assert mine["title"] == "mine.pth (not in the catalogue)" and sized["title"] == "sized"
    assert sized["architecture"] == "meso4"
    # an install from an older version whose manifest lacks the entry card and the source sizes
    mf = home / "weights" / "mine" / "manifest.json"
    old = json.loads(mf.read_text())
    old.pop("entry")
    for m in old["members"]:
        m.pop("source_size")
    mf.write_text(json.dumps(old))
    mine = {r["name"]: r for r in list_rows()}["mine"]
    assert (mine["title"], mine["licence"], mine["size"]) == ("", "unknown", "0 B (at install)")
    old.pop("members")
    mf.write_text(json.dumps(old))
    mine = {r["name"]: r for r in list_rows()}["mine"]
    assert (mine["files"], mine["size"]) == (0, "0 B (at install)")


def test_verify_and_remove(home, tmp_path):
    from fakescope.catalogue.install import remove, verify

    for name in ("v1", "v2"):
        path = tmp_path / f"{name}.pth"
        path.write_bytes(meso_file())
        add([path], name, format="deepfakebench")
    assert verify() == {"v1": [], "v2": []} and verify(["v2"]) == {"v2": []}
    (home / "weights" / "v1" / "member-0.safetensors").write_bytes(b"altered")
    assert verify()["v1"] and verify(["v2"]) == {"v2": []}
    with pytest.raises(WeightsError) as e:
        remove("v3")
    assert str(e.value) == "v3 is not installed (installed: v1, v2)"
    (home / "downloads" / "v2").mkdir(parents=True)
    (home / "downloads" / "v2" / "x.part").write_bytes(b"p")
    assert remove("v2") == home / "weights" / "v2"
    assert not (home / "weights" / "v2").exists() and not (home / "downloads" / "v2").exists()
    assert not [p for p in (home / "weights").iterdir() if p.name.startswith(".removing")]  # nothing left behind
    with pytest.raises(WeightsError) as e:
        remove("v2")
    assert str(e.value) == "v2 is not installed (installed: v1)"
    remove("v1")
    with pytest.raises(WeightsError) as e:
        remove("v1")
    assert str(e.value) == "v1 is not installed (installed: none)"


def test_add_honours_the_format_and_architecture_it_is_given(home, tmp_path):
    sd, _ = gend_state_dict()
    path = tmp_path / "model.safetensors"
    save_file(sd, str(path), metadata={"format": "pt"})
    inst = add([path], "g-linear", format="gend-linear")  # auto-detection would read it as "gend"
    manifest = json.loads((inst.path / "manifest.json").read_text())
    assert manifest["members"][0]["source_format"] == "gend-linear"
    assert manifest["members"][0]["source_url"] == str(path.resolve())
    assert manifest["model_kwargs"]["l2_normalize"] is False
    meso = tmp_path / "m.pth"
    meso.write_bytes(meso_file())
    with pytest.raises(WeightsError, match="'mesoinception4', not 'xception'"):
        add([meso], "m-wrong", format="deepfakebench", arch="xception")
    with pytest.raises(WeightsError, match=r"^m-two is not in the catalogue: add one file at a time$"):
        add([meso, path], "m-two")


def test_add_for_a_catalogue_entry_checks_its_files_and_licence(home, tmp_path):
    meso = tmp_path / "meso4Incep_best.pth"
    meso.write_bytes(meso_file())
    with pytest.raises(LicenceNotAccepted, match=r"licence .* pass --accept-licence"):
        add([meso], NAME)  # a restricted entry: not accepted by default
    other = tmp_path / "other.pth"
    other.write_bytes(b"x")
    with pytest.raises(WeightsError, match=rf"^{NAME} is one file \(meso4Incep_best.pth\); got 2$"):
        add([meso, other], NAME, accept_licence=True)
    inst = add([meso], NAME, accept_licence=True, format="deepfakebench", arch="mesoinception4")
    assert json.loads((inst.path / "manifest.json").read_text())["in_catalogue"] is True
    with pytest.raises(WeightsError, match="'mesoinception4', not 'meso4'"):
        add([meso], NAME, accept_licence=True, arch="meso4")  # an override reaches the converter


_PAIR = """
[[weights]]
name = "t-pair"
title = "two files"
format = "deepfakebench"
licence = "MIT"
combine = "mean-probability"
[[weights.files]]
file = "one.pth"
url = "https://example.invalid/one.pth"
[[weights.files]]
file = "two.pth"
url = "https://example.invalid/two.pth"
"""


def test_add_for_a_several_file_entry_names_what_is_missing(home, tmp_path, monkeypatch):
    _catalogue(tmp_path, monkeypatch, _PAIR)
    one, stray = tmp_path / "one.pth", tmp_path / "three.pth"
    one.write_bytes(meso_file())
    stray.write_bytes(meso_file())
    with pytest.raises(WeightsError, match=r"^t-pair needs its 2 files under their published names; missing: two.pth$"):
        add([one, stray], "t-pair")
    with pytest.raises(WeightsError, match=r"; missing: two.pth$"):
        add([one], "t-pair")
    other = tmp_path / "four.pth"
    other.write_bytes(meso_file())
    with pytest.raises(WeightsError, match=r"; missing: one.pth, two.pth$"):
        add([stray, other], "t-pair")
    two = tmp_path / "two.pth"
    two.write_bytes(meso_file())
    with pytest.raises(WeightsError, match=r"; missing: -$"):
        add([one, two, stray], "t-pair")  # every file there, one too many
    inst = add([two, one], "t-pair")
    manifest = json.loads((inst.path / "manifest.json").read_text())
    assert [m["source_file"] for m in manifest["members"]] == ["one.pth", "two.pth"]


def test_an_ensemble_of_files_of_different_architectures_is_refused(home, tmp_path, monkeypatch):
    """Two files that convert onto different networks (here Meso4 and MesoInception4, both 256 px) cannot be
    averaged as one model: refused, with both architectures named, and nothing installed."""
    from test_convert import _dfb_meso4
    from test_convert_published import _Detector
    from test_weights import _bytes

    _catalogue(tmp_path, monkeypatch, _PAIR.replace('"t-pair"', '"t-mixed"'))  # two files, one entry
    one, two = tmp_path / "one.pth", tmp_path / "two.pth"
    one.write_bytes(meso_file())
    two.write_bytes(_bytes(_Detector(_dfb_meso4()).state_dict()))
    with pytest.raises(WeightsError, match=r"^t-mixed: the files convert onto different architectures or input "
                                           r"sizes \(meso4, mesoinception4\); an ensemble needs one$"):
        add([one, two], "t-mixed")
    assert not (home / "weights").exists()  # nothing written


@pytest.mark.parametrize(("given", "kept"), [
    ("...", "checkpoint.pth"), ("../..", "checkpoint.pth"), ("Xception.pth", "Xception.pth"),
    ("XX.pth", "XX.pth"), (".X.pth", "X.pth"), ("a b/c d.pth", "c_d.pth"),
])  # fmt: skip
def test_the_file_name_of_a_url_or_path_outside_the_catalogue(given, kept):
    from fakescope.catalogue.install import adhoc_entry

    assert adhoc_entry("n", given, "", "auto").files[0].file == kept


def test_a_mirror_is_a_url_base_or_a_folder():
    assert source_for("a b.pth", "https://origin/x", None) == "https://origin/x"
    assert source_for("a b.pth", "https://origin/x", "https://m.example/w//") == "https://m.example/w/a%20b.pth"
    assert source_for("f.pth", "https://origin/x", "/mnt/usb/weights/") == "/mnt/usb/weights/f.pth"
    assert source_for("f.pth", "", "https://m.example/MIX/") == "https://m.example/MIX/f.pth"  # only '/' trimmed


def test_a_mirror_folder_whose_path_looks_like_a_url(tmp_path):
    """A local mirror folder may have '%' or '#' in its name: it is a path, never parsed as a URL."""
    folder = tmp_path / "100% #1"
    folder.mkdir()
    (folder / "w.pth").write_bytes(b"weights")
    part = fetch(source_for("w.pth", "https://origin/w.pth", str(folder)), tmp_path / "w.part")
    assert part.read_bytes() == b"weights"


def test_a_local_copy_is_capped_resumed_and_restarted(tmp_path):
    src = tmp_path / "w.pth"
    data = bytes(range(256)) * 4  # 1024 bytes
    src.write_bytes(data)
    part = tmp_path / "dl" / "w.pth.part"
    with pytest.raises(DownloadError) as e:
        fetch(str(tmp_path / "absent.pth"), part)
    assert str(e.value) == (f"{tmp_path / 'absent.pth'}: not found (FAKESCOPE_WEIGHTS_MIRROR folders hold the files "
                            "under their published names)")  # fmt: skip
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"x" * 10)
    with pytest.raises(DownloadError) as e:
        fetch(str(src), part, max_bytes=1023)
    assert str(e.value) == (f"{src}: larger than 1023 bytes (the published size, or FAKESCOPE_MAX_DOWNLOAD): "
                            "refused")  # fmt: skip
    assert not part.exists()  # the partial file goes with the refusal
    assert fetch(str(src), part, max_bytes=1024).read_bytes() == data  # exactly the cap: accepted
    # a .part from an interrupted copy is continued, not copied again (its bytes are checked by sha256 after)
    part.write_bytes(b"\xff" * 100)
    seen = []
    fetch(src.as_uri(), part, progress=lambda done, total: seen.append((done, total)))
    assert part.read_bytes() == b"\xff" * 100 + data[100:] and seen[-1] == (1024, 1024)
    part.write_bytes(b"\xee" * 1024)  # complete already: kept as it is
    assert fetch(str(src), part).read_bytes() == b"\xee" * 1024
    part.write_bytes(b"\xee" * 2000)  # longer than the source: not this file, start again
    assert fetch(str(src), part).read_bytes() == data


def test_an_unknown_entry_gets_a_suggestion_when_one_is_close(home):
    with pytest.raises(UnknownNameError) as e:
        get_entry("gend-clip-l15")
    assert str(e.value) == ("'gend-clip-l15' is not in the weights catalogue; did you mean 'gend-clip-l14'? "
                            "(see `fakescope weights list`)")  # fmt: skip
    with pytest.raises(UnknownNameError) as e:
        get_entry("zzzz")
    assert str(e.value) == "'zzzz' is not in the weights catalogue (see `fakescope weights list`)"
    assert get_entry("gend-clip-l14").name == "gend-clip-l14"


def test_a_damaged_torch_file_named_as_an_entry_is_refused_not_installed(home, tmp_path):
    bad = tmp_path / "meso4Incep_best.pth"
    torch.save({"not": torch.zeros(1)}, bad)
    with pytest.raises(WeightsError):
        add([bad], NAME, accept_licence=True)
    assert not (home / "weights" / NAME).exists()


def test_the_first_install_pins_size_and_sha256_and_a_different_file_is_refused(home, tmp_path, monkeypatch):
    """An entry whose project publishes no checksum (t-open: b.pth): the first verified file's size and sha256 are
    recorded, and a later file of the same name must match them."""
    import hashlib
    import re

    _catalogue(tmp_path, monkeypatch)
    first = tmp_path / "one" / "b.pth"
    first.parent.mkdir()
    first.write_bytes(meso_file())
    with _clock_14_hours_ahead():
        add([first], "t-open")
    rec = json.loads((home / "recorded.json").read_text())
    pinned = rec["t-open"]["b.pth"]
    assert set(rec) == {"t-open"}
    assert (pinned["size"], pinned["sha256"]) == (first.stat().st_size,
                                                  hashlib.sha256(first.read_bytes()).hexdigest())  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", pinned["recorded"])
    # "Z": the time is UTC, whatever the machine's time zone (here 14 hours ahead of it)
    assert _utc_now_within(pinned["recorded"])
    add([first], "t-open")  # the same file again: accepted, the record unchanged
    assert json.loads((home / "recorded.json").read_text()) == rec
    other = tmp_path / "two" / "b.pth"
    other.parent.mkdir()
    data = bytearray(first.read_bytes())
    data[-1] ^= 1  # same size, other bytes
    other.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"^b\.pth: sha256 .* does not match the recorded on first download "):
        add([other], "t-open")
    other.write_bytes(bytes(data[:-1]))
    with pytest.raises(WeightsError, match=rf"^b\.pth: truncated: {len(data) - 1} bytes, {len(data)} recorded"):
        add([other], "t-open")
    assert json.loads((home / "recorded.json").read_text()) == rec  # a refused file records nothing
    # an entry whose checksum is published records nothing
    assert "t-sized" not in rec


def test_an_added_file_outside_the_catalogue_keeps_a_safe_name(home, tmp_path):
    odd = tmp_path / ".hidden name (1).pth"
    odd.write_bytes(meso_file())
    inst = add([odd], "odd", format="deepfakebench")
    manifest = json.loads((inst.path / "manifest.json").read_text())
    assert manifest["members"][0]["source_file"] == "hidden_name__1_.pth"
    assert manifest["entry"]["format"] == "deepfakebench"
    assert manifest["in_catalogue"] is False  # `weights show` then prints the manifest's card, not the catalogue's
    from typer.testing import CliRunner

    from fakescope.cli import app

    r = CliRunner().invoke(app, ["weights", "show", "odd"])
    assert r.exit_code == 0, r.output
    card = json.loads(r.output)
    assert card["title"] == "hidden_name__1_.pth (not in the catalogue)" and card["installed"] is True
    assert card["licence"].startswith("unknown") and card["files"][0]["url"] == ""


def _published(tmp_path, monkeypatch, data: bytes, source: str) -> None:
    """An extra catalogue with one entry, t-pub (c.pth), whose size and sha256 are those of ``data``."""
    import hashlib

    _catalogue(tmp_path, monkeypatch, f"""
[[weights]]
name = "t-pub"
title = "size and checksum published"
format = "deepfakebench"
licence = "MIT"
[[weights.files]]
file = "c.pth"
url = "https://example.invalid/c.pth"
size = {len(data)}
sha256 = "{hashlib.sha256(data).hexdigest()}"
sha256_source = "{source}"
""")


@pytest.mark.parametrize(("content", "message"), [
    (lambda d: b"", r"c\.pth: empty file"),
    (lambda d: b"\n  <!DOCTYPE html><html>sign in</html>" + b" " * (len(d) - 38),
     r"c\.pth: an HTML page, not a checkpoint \(a login, download-quota or virus-scan page\?\)"),
    (lambda d: d + b"\0", r"c\.pth: too large: {n1} bytes, {n} published"),
    (lambda d: d[:-1], r"c\.pth: truncated: {n_1} bytes, {n} published"),
    (lambda d: d[:-1] + bytes([d[-1] ^ 1]),
     r"c\.pth: sha256 [0-9a-f]{{16}}… does not match the published [0-9a-f]{{16}}… \(corrupt, truncated or a "
     r"different file\)"),
])  # fmt: skip
def test_each_refusal_says_what_was_wrong_against_what_was_published(home, tmp_path, monkeypatch, content, message):
    """What a user reads when `weights add`/`pull` refuses a file of an entry that publishes its size and sha256:
    the file, the fault, the measured and the published number; nothing is installed or recorded."""
    data = meso_file()
    _published(tmp_path, monkeypatch, data, "published: Git LFS pointer")
    bad = tmp_path / "c.pth"
    bad.write_bytes(content(data))
    pattern = "^" + message.format(n=len(data), n1=len(data) + 1, n_1=len(data) - 1) + "$"
    with pytest.raises(WeightsError, match=pattern):
        add([bad], "t-pub")
    assert not (home / "weights" / "t-pub").exists() and not (home / "recorded.json").exists()
    bad.write_bytes(data)  # the right file is accepted, and (its sha256 published) nothing is recorded
    assert add([bad], "t-pub").path.name == "t-pub" and not (home / "recorded.json").exists()


def test_a_checksum_mismatch_names_where_the_checksum_came_from(home, tmp_path, monkeypatch):
    """A wrong file is compared with a sha256 the user gave (--sha256), one from the file name, or a published one:
    the message says which, so the user knows whom to believe."""
    from fakescope.catalogue.install import _check_file, adhoc_entry

    data = meso_file()
    path = tmp_path / "c.pth"
    path.write_bytes(data)
    given = adhoc_entry("mine", "c.pth", "", "auto", sha256="ab" * 32)
    with pytest.raises(WeightsError, match=r"does not match the given abababababababab… "):
        _check_file(given, given.files[0], path)
    named = adhoc_entry("mine", "c-" + "cd" * 32 + ".pth", "", "auto")
    with pytest.raises(WeightsError, match=r"does not match the sha256 in the file name cdcdcdcdcdcdcdcd… "):
        _check_file(named, named.files[0], path)
    _published(tmp_path, monkeypatch, data + b"\0", "given by the project's README")  # not "given" itself
    entry = get_entry("t-pub")
    path.write_bytes(data + b"\1")
    with pytest.raises(WeightsError, match=r"does not match the published "):
        _check_file(entry, entry.files[0], path)
    # without a published size or sha256, a file is checked against what its first download recorded
    home.mkdir(parents=True, exist_ok=True)
    (home / "recorded.json").write_text(json.dumps({"mine": {"c.pth": {"size": len(data), "sha256": "ef" * 32}}}))
    plain = adhoc_entry("mine", "c.pth", "", "auto")
    path.write_bytes(data + b"\0")
    with pytest.raises(WeightsError, match=rf"^c\.pth: too large: {len(data) + 1} bytes, {len(data)} recorded on "
                                           r"first download$"):
        _check_file(plain, plain.files[0], path)
    path.write_bytes(data)
    with pytest.raises(WeightsError, match=r"does not match the recorded on first download efefefefefefefef… "):
        _check_file(plain, plain.files[0], path)
    other = adhoc_entry("other", "c.pth", "", "auto")  # another entry's record does not apply
    assert _check_file(other, other.files[0], path)[0] == len(data)


_FULL = """
[[weights]]
name = "t-full"
title = "Every field"
project = "Lab"
project_url = "https://example.invalid/lab"
paper = "A paper (2026)"
trained_on = "FF++ c23"
architecture = "meso4"
format = "deepfakebench"
preprocessing = "aligned faces, 256 px"
licence = "CC BY-NC 4.0"
licence_url = "https://example.invalid/licence"
restriction = "non-commercial use only"
combine = "mean-probability"
combine_note = "the mean of both"
source_read = "lab/repo@abc123"
notes = "a note"
benchmarks = [{ dataset = "CDF", metric = "AUC", value = 0.8 }]
[[weights.files]]
file = "one.pth"
url = ["https://example.invalid/one.pth", "https://mirror.invalid/one.pth"]
size = 12
sha256 = "AB"
sha256_source = "published"
[[weights.files]]
file = "two.pth"
url = "https://example.invalid/two.pth"
"""


def test_weights_show_prints_every_field_under_its_catalogue_name(home, tmp_path, monkeypatch):
    """`weights show` (and the installed manifest's "entry") give an entry's card under the same field names as the
    catalogue file, so a user can read one against the other."""
    from typer.testing import CliRunner

    from fakescope.cli import app

    _catalogue(tmp_path, monkeypatch, _FULL)
    r = CliRunner().invoke(app, ["weights", "show", "t-full"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {
        "name": "t-full", "title": "Every field", "project": "Lab", "project_url": "https://example.invalid/lab",
        "paper": "A paper (2026)", "trained_on": "FF++ c23", "architecture": "meso4", "format": "deepfakebench",
        "preprocessing": "aligned faces, 256 px", "licence": "CC BY-NC 4.0",
        "licence_url": "https://example.invalid/licence", "restriction": "non-commercial use only",
        "combine": "mean-probability", "combine_note": "the mean of both",
        "benchmarks": [{"dataset": "CDF", "metric": "AUC", "value": 0.8}], "source_read": "lab/repo@abc123",
        "notes": "a note",
        "files": [
            {"file": "one.pth", "url": "https://example.invalid/one.pth", "fallbacks": ["https://mirror.invalid/one.pth"],
             "size": 12, "sha256": "ab", "sha256_source": "published"},
            {"file": "two.pth", "url": "https://example.invalid/two.pth", "fallbacks": [], "size": None, "sha256": None,
             "sha256_source": ""},
        ],
        "installed": False,
    }  # fmt: skip


def test_an_unreadable_file_is_named_as_the_catalogue_names_it(home, tmp_path, monkeypatch):
    """A file that is no checkpoint: the refusal names the entry's file (b.pth), not wherever it was copied from."""
    _catalogue(tmp_path, monkeypatch)
    where = tmp_path / "downloaded elsewhere"
    where.mkdir()
    junk = where / "b.pth"
    junk.write_bytes(b"PK\x03\x04 not a checkpoint at all" * 10)
    with pytest.raises(WeightsError, match=r"^b\.pth: ") as e:
        add([junk], "t-open")
    assert str(where) not in str(e.value)
    assert not (home / "recorded.json").exists()  # a refused file is not recorded


def test_weights_list_of_a_restricted_two_file_entry_half_recorded(home, tmp_path, monkeypatch):
    """t-full (two files, one with a published size and sha256, a restricted licence) and t-lfs (its checksum
    published by the project, not in a file name): what `weights list` says of each."""
    _catalogue(tmp_path, monkeypatch, _FULL + """
[[weights]]
name = "t-lfs"
title = "published by the project"
licence = "MIT"
[[weights.files]]
file = "m.safetensors"
url = "https://example.invalid/m.safetensors"
size = 2000
sha256 = "cd"
sha256_source = "published: Git LFS pointer"
""")
    home.mkdir(parents=True, exist_ok=True)
    # the first download of t-full stopped after its first file: one file's size recorded, not the other's
    (home / "recorded.json").write_text(json.dumps({"t-full": {"one.pth": {"size": 12, "sha256": "ab"}}}))
    rows = {r["name"]: r for r in list_rows()}
    full, lfs = rows["t-full"], rows["t-lfs"]
    assert (full["restricted"], full["files"], full["licence"]) == (True, 2, "CC BY-NC 4.0")
    assert full["size"] == "not published (measured at first download)"
    assert full["sha256"] == "recorded on first download"
    assert (lfs["restricted"], lfs["size"], lfs["sha256"]) == (False, "2 kB", "published")


def test_add_for_a_catalogue_entry_uses_its_format_unless_told_another(home, tmp_path, monkeypatch):
    """A catalogue entry's format decides the conversion (t-gl: GenD's linear head, which auto-detection would call
    "gend"); `--format` replaces it (t-wrong says deepfakebench, the file is GenD)."""
    _catalogue(tmp_path, monkeypatch, """
[[weights]]
name = "t-gl"
title = "GenD linear"
format = "gend-linear"
licence = "MIT"
[[weights.files]]
file = "model.safetensors"
url = "https://example.invalid/model.safetensors"

[[weights]]
name = "t-wrong"
title = "a format that does not fit"
format = "deepfakebench"
licence = "MIT"
[[weights.files]]
file = "model.safetensors"
url = "https://example.invalid/model.safetensors"
""")
    sd, _ = gend_state_dict()
    path = tmp_path / "model.safetensors"
    save_file(sd, str(path), metadata={"format": "pt"})
    inst = add([path], "t-gl")
    assert json.loads((inst.path / "manifest.json").read_text())["members"][0]["source_format"] == "gend-linear"
    with pytest.raises(WeightsError):
        add([path], "t-wrong")
    inst = add([path], "t-wrong", format="gend")
    manifest = json.loads((inst.path / "manifest.json").read_text())
    assert manifest["members"][0]["source_format"] == "gend" and manifest["entry"]["format"] == "gend"


def test_an_install_works_when_the_temp_folder_is_on_another_disk(home, tmp_path, monkeypatch):
    """/tmp on a RAM disk (tmpfs) is common: an install is staged beside its target, so its final rename never
    crosses file systems, and leaves nothing in the temp folder."""
    import shutil
    import tempfile
    from pathlib import Path

    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system for the temp folder")
    temp = Path(tempfile.mkdtemp(dir=shm, prefix="fakescope-test-"))
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(temp))
        path = tmp_path / "m.pth"
        path.write_bytes(meso_file())
        inst = add([path], "m-shm", format="deepfakebench")
        assert (inst.path / "manifest.json").is_file() and list(temp.iterdir()) == []
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def test_a_local_copy_shows_its_progress_as_it_goes(tmp_path):
    """A mirror-folder copy of a large file moves the progress bar in steps (a megabyte at a time), not once at the
    end."""
    src = tmp_path / "mirror" / "w.pth"
    src.parent.mkdir()
    src.write_bytes(bytes(range(256)) * 10_000)  # 2.56 MB
    seen = []
    part = fetch(str(src), tmp_path / "w.part", progress=lambda done, total: seen.append((done, total)))
    assert part.read_bytes() == src.read_bytes()
    assert [d for d, _ in seen] == [1 << 20, 2 << 20, 2_560_000] and {t for _, t in seen} == {2_560_000}


def test_the_manifest_an_install_writes(home, tmp_path, monkeypatch):
    """manifest.json is what `weights show/verify`, the model registry and later versions read: every field, in
    UTC whatever the machine's time zone, "combine" only for several files; a reinstall replaces the model and
    leaves no old copy behind."""
    import hashlib

    from fakescope import __version__

    _catalogue(tmp_path, monkeypatch, _PAIR)
    one, two = tmp_path / "one.pth", tmp_path / "two.pth"
    one.write_bytes(meso_file())
    two.write_bytes(meso_file())
    with _clock_14_hours_ahead():
        inst = add([one, two], "t-pair")
    assert inst.name == "t-pair" and inst.path == home / "weights" / "t-pair"
    m = json.loads((inst.path / "manifest.json").read_text())
    assert set(m) == {"schema", "name", "architecture", "model_kwargs", "input_size", "mean", "std", "crop_align",
                      "combine", "members", "entry", "in_catalogue", "installed_at", "fakescope_version"}
    assert (m["schema"], m["name"], m["architecture"], m["input_size"]) == (1, "t-pair", "mesoinception4", 256)
    assert (m["combine"], m["in_catalogue"], m["fakescope_version"]) == ("mean-probability", True, __version__)
    assert m["crop_align"] == "deepfakebench" and m["entry"]["title"] == "two files"  # DeepfakeBench aligns faces
    assert _utc_now_within(m["installed_at"])
    digest = hashlib.sha256(meso_file()).hexdigest()
    for i, (member, src) in enumerate(zip(m["members"], (one, two), strict=True)):
        assert set(member) == {"file", "sha256", "source_file", "source_url", "source_size", "source_sha256",
                               "source_format", "notes"}
        assert (member["file"], member["source_file"], member["source_url"]) == (f"member-{i}.safetensors", src.name,
                                                                                 str(src.resolve()))  # fmt: skip
        assert (member["source_size"], member["source_sha256"]) == (src.stat().st_size, digest)
        assert member["source_format"] == "deepfakebench" and isinstance(member["notes"], list)
        assert member["sha256"] == hashlib.sha256((inst.path / member["file"]).read_bytes()).hexdigest()
    # a one-file install has no combine rule; installing again replaces the model, and no old copy is left
    path = tmp_path / "m.pth"
    path.write_bytes(meso_file())
    assert json.loads((add([path], "m1", format="deepfakebench").path / "manifest.json").read_text())["combine"] is None
    add([two, one], "t-pair")
    assert sorted(p.name for p in (home / "weights").iterdir()) == ["m1", "t-pair"]


def test_a_disk_full_during_an_install_leaves_nothing(home, tmp_path, monkeypatch):
    """The disk fills while the converted weights are written: the user gets that error (not another one), and
    neither a half-installed model nor a staging folder stays behind; an earlier install of the name is kept."""
    import fakescope.models.convert as convert

    path = tmp_path / "m.pth"
    path.write_bytes(meso_file())
    add([path], "m1", format="deepfakebench")
    before = (home / "weights" / "m1" / "manifest.json").read_text()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(convert, "save_converted", full)
    with pytest.raises(OSError, match="No space left on device"):
        add([path], "m1", format="deepfakebench")
    with pytest.raises(OSError, match="No space left on device"):
        add([path], "m2", format="deepfakebench")
    assert sorted(p.name for p in (home / "weights").iterdir()) == ["m1"]
    assert (home / "weights" / "m1" / "manifest.json").read_text() == before


def test_add_without_a_format_detects_it(home, tmp_path):
    path = tmp_path / "m.pth"
    path.write_bytes(meso_file())
    inst = add([path], "auto1")
    manifest = json.loads((inst.path / "manifest.json").read_text())
    assert (manifest["members"][0]["source_format"], manifest["architecture"]) == ("deepfakebench", "mesoinception4")
    assert manifest["entry"]["format"] == "auto"


@pytest.mark.parametrize(("file", "sha256", "want"), [
    ("c.pth", "AB" * 32, ("ab" * 32, "given")),
    ("c-" + "cd" * 32 + ".pth", None, ("cd" * 32, "file name")),
    ("c-" + "cd" * 32 + ".pth", "ab" * 32, ("ab" * 32, "given")),  # what the user gives wins
    ("c.pth", None, (None, "")),
])  # fmt: skip
def test_where_the_checksum_of_a_file_outside_the_catalogue_comes_from(file, sha256, want):
    """What `weights show` prints for a --url/add install: the sha256 it was checked against, and its source."""
    from fakescope.catalogue.install import adhoc_entry

    card = adhoc_entry("n", file, "", "auto", sha256=sha256).card()["files"][0]
    assert (card["sha256"], card["sha256_source"]) == want


def test_a_damaged_record_of_first_downloads_is_named(home, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from fakescope.cli import app

    home.mkdir(parents=True, exist_ok=True)
    (home / "recorded.json").write_text("{not json")
    r = CliRunner().invoke(app, ["weights", "list"])
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "recorded.json: damaged (" in r.output.replace("\n", ""), r.output


@pytest.mark.parametrize(("text", "message"), [
    ('file = "a/b.pth"', r"names the file 'a/b\.pth', which is not a plain file name \(letters, digits, '-', '_', "
                         r"'\.'; no '/', no leading '\.'\)$"),
    ('file = "a.pth"\n[[weights.files]]\nfile = "b.pth"', r"has 2 files but no combine rule \(mean-probability\)$"),
    ('file = "a.pth"\nsha265 = "ab"', r"malformed \(ValueError: unknown file field\(s\) sha265\)$"),
    ('file = "a.pth"\n[[weights]]\nname = "t-ok"\ntitle = "y"\nlicnce = "MIT"\nfiles = [{ file = "b.pth" }]',
     r"'t-ok' is malformed \(ValueError: unknown field\(s\) licnce\)$"),
])  # fmt: skip
def test_a_catalogue_mistake_is_named(home, tmp_path, monkeypatch, text, message):
    """What the author of an organisation's catalogue file reads when an entry is wrong."""
    from fakescope.catalogue.entries import load_catalogue
    from fakescope.errors import FakescopeError

    _catalogue(tmp_path, monkeypatch, f'[[weights]]\nname = "t-bad"\ntitle = "x"\n[[weights.files]]\n{text}\n')
    with pytest.raises(FakescopeError, match=message):
        load_catalogue()


def test_a_file_with_only_fallback_urls(home, tmp_path, monkeypatch):
    _catalogue(tmp_path, monkeypatch, """
[[weights]]
name = "t-fb"
title = "fallbacks only"
[[weights.files]]
file = "a.pth"
fallbacks = ["https://one.invalid/a.pth", "https://two.invalid/a.pth"]

[[weights]]
name = "t-both"
title = "url and fallbacks"
[[weights.files]]
file = "a.pth"
url = "https://one.invalid/a.pth"
fallbacks = ["https://two.invalid/a.pth", "https://one.invalid/a.pth"]
""")
    assert get_entry("t-fb").files[0].urls == ("https://one.invalid/a.pth", "https://two.invalid/a.pth")
    assert get_entry("t-both").files[0].urls == ("https://one.invalid/a.pth", "https://two.invalid/a.pth")


def test_extra_catalogue_files_empty_or_in_a_folder_with_spaces(home, tmp_path, monkeypatch):
    """FAKESCOPE_WEIGHTS_CATALOGUE lists files separated by the path separator (not by spaces); a file with no
    entry yet is fine."""
    from fakescope.catalogue.entries import CATALOGUE_PATH, _read, load_catalogue

    folder = tmp_path / "shared drive"
    folder.mkdir()
    (folder / "org.toml").write_text(_ENTRIES)
    (folder / "empty.toml").write_text("# no entries yet\n")
    monkeypatch.setenv("FAKESCOPE_WEIGHTS_CATALOGUE", os.pathsep.join([str(folder / "empty.toml"),
                                                                        str(folder / "org.toml")]))  # fmt: skip
    names = set(load_catalogue())
    assert {"t-sized", "t-open"} <= names and len(names) == len(_read(CATALOGUE_PATH)) + 2


def test_names_up_to_200_characters_are_valid():
    from fakescope.catalogue.entries import MAX_NAME, valid_name

    assert MAX_NAME == 200 and valid_name("a" * 200) and not valid_name("a" * 201)
