"""What `fakescope weights list` shows (sizes, checksum status, the published number it quotes), how `weights
add` honours what it is told, local (mirror-folder) copies, and the catalogue's name suggestions — fast tests of
the catalogue's decision code (mutation group "catalogue", issue 21)."""

from __future__ import annotations

import json

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


def test_add_for_a_several_file_entry_names_what_is_missing(home, tmp_path, monkeypatch):
    _catalogue(tmp_path, monkeypatch, """
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
""")
    one, stray = tmp_path / "one.pth", tmp_path / "three.pth"
    one.write_bytes(meso_file())
    stray.write_bytes(meso_file())
    with pytest.raises(WeightsError, match=r"^t-pair needs its 2 files under their published names; missing: two.pth$"):
        add([one, stray], "t-pair")
    with pytest.raises(WeightsError, match=r"; missing: two.pth$"):
        add([one], "t-pair")
    two = tmp_path / "two.pth"
    two.write_bytes(meso_file())
    with pytest.raises(WeightsError, match=r"; missing: -$"):
        add([one, two, stray], "t-pair")  # every file there, one too many
    inst = add([two, one], "t-pair")
    manifest = json.loads((inst.path / "manifest.json").read_text())
    assert [m["source_file"] for m in manifest["members"]] == ["one.pth", "two.pth"]


def test_a_mirror_is_a_url_base_or_a_folder():
    assert source_for("a b.pth", "https://origin/x", None) == "https://origin/x"
    assert source_for("a b.pth", "https://origin/x", "https://m.example/w//") == "https://m.example/w/a%20b.pth"
    assert source_for("f.pth", "https://origin/x", "/mnt/usb/weights/") == "/mnt/usb/weights/f.pth"


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
    add([first], "t-open")
    rec = json.loads((home / "recorded.json").read_text())
    pinned = rec["t-open"]["b.pth"]
    assert set(rec) == {"t-open"}
    assert (pinned["size"], pinned["sha256"]) == (first.stat().st_size,
                                                  hashlib.sha256(first.read_bytes()).hexdigest())  # fmt: skip
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", pinned["recorded"])
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
