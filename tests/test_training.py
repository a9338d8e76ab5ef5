"""Training and evaluation (issue 5): dataset readers, splits, metrics, SBI, training, resume, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from fakescope.training import (
    FaceRecord,
    TrainConfig,
    binary_metrics,
    detect_dataset,
    equal_error_rate,
    list_datasets,
    load_splits,
    load_trained_model,
    make_splits,
    read_dataset,
    save_splits,
    self_blend,
    split_records,
    train,
    write_records_csv,
)
from fakescope.training.landmarks import shape_predictor_available
from fakescope.training.sbi import hull_mask

# --------------------------------------------------------------------------------- dataset readers


def _touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


def _tree_folder(root: Path) -> dict:
    _touch(root, "real/a.jpg", "real/clip1/0001.png", "real/clip1/0002.png", "fake/FaceSwap/b.png", "fake/c.mp4")
    return {"n": 5, "fake": 2, "videos": {"real/a", "real/clip1", "fake/FaceSwap/b", "fake/fake/c"},
            "manipulations": {"original", "FaceSwap", "fake"}}  # fmt: skip


def _tree_csv(root: Path) -> dict:
    _touch(root, "imgs/x.png", "imgs/y.png", "imgs/z.png")
    (root / "list.csv").write_text(
        "path,label,video,identity,manipulation\n"
        "imgs/x.png,0,v1,alice,\nimgs/y.png,fake,v2,bob,Deepfakes\nimgs/z.png,REAL,v3,,\n"
    )
    return {"file": "list.csv", "n": 3, "fake": 1, "videos": {"v1", "v2", "v3"},
            "manipulations": {"original", "Deepfakes"}}  # fmt: skip


def _tree_seed001(root: Path) -> dict:
    _touch(root, "faces/1.jpg", "faces/2.jpg")
    (root / "faces.csv").write_text("filepath,label\nfaces/1.jpg,real\nfaces/2.jpg,Fake\n")
    return {"file": "faces.csv", "n": 2, "fake": 1, "videos": {"1", "2"}, "manipulations": {"original", "fake"}}


def _tree_ffpp(root: Path) -> dict:
    _touch(
        root,
        "original_sequences/youtube/c23/videos/000.mp4",
        "original_sequences/youtube/c23/videos/003.mp4",
        "original_sequences/youtube/c40/videos/000.mp4",
        "manipulated_sequences/Deepfakes/c23/videos/000_003.mp4",
        "manipulated_sequences/Deepfakes/c23/videos/003_000.mp4",
        "manipulated_sequences/Deepfakes/masks/videos/000_003.mp4",
        "manipulated_sequences/Face2Face/c23/videos/000_003.mp4",
        "manipulated_sequences/FaceShifter/c23/videos/003_000.mp4",
    )
    (root / "splits").mkdir()
    (root / "splits" / "test.json").write_text(json.dumps([["000", "003"]]))
    return {"n": 6, "fake": 4, "manipulations": {"original", "Deepfakes", "Face2Face", "FaceShifter"},
            "videos": {"original/000", "original/003", "Deepfakes/000_003", "Deepfakes/003_000",
                       "Face2Face/000_003", "FaceShifter/003_000"}}  # fmt: skip


def _tree_celebdf(root: Path) -> dict:
    _touch(root, "Celeb-real/id0_0000.mp4", "Celeb-real/id1_0001.mp4", "Celeb-synthesis/id0_id1_0000.mp4",
           "YouTube-real/00000.mp4")  # fmt: skip
    (root / "List_of_testing_videos.txt").write_text("1 YouTube-real/00000.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n")
    return {"n": 4, "fake": 1, "manipulations": {"original", "Celeb-synthesis"},
            "videos": {"Celeb-real/id0_0000", "Celeb-real/id1_0001", "Celeb-synthesis/id0_id1_0000",
                       "YouTube-real/00000"}}  # fmt: skip


def _tree_dfdc(root: Path) -> dict:
    part = root / "dfdc_train_part_0"
    _touch(part, "aaa.mp4", "bbb.mp4", "ccc.mp4")
    meta = {"aaa.mp4": {"label": "REAL", "split": "train", "original": None},
            "bbb.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
            "ccc.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
            "missing.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"}}  # fmt: skip
    (part / "metadata.json").write_text(json.dumps(meta))
    return {"n": 3, "fake": 2, "videos": {"aaa", "bbb", "ccc"}, "manipulations": {"original", "DFDC"}}


def _tree_140k(root: Path) -> dict:
    base = "real_vs_fake/real-vs-fake"
    _touch(root, f"{base}/train/real/00001.jpg", f"{base}/train/fake/AAA.jpg", f"{base}/valid/real/00002.jpg",
           f"{base}/valid/fake/BBB.jpg", f"{base}/test/real/00003.jpg", f"{base}/test/fake/CCC.jpg")  # fmt: skip
    return {"n": 6, "fake": 3, "manipulations": {"original", "StyleGAN"},
            "videos": {"real/00001", "fake/AAA", "real/00002", "fake/BBB", "real/00003", "fake/CCC"}}  # fmt: skip


def _tree_media(root: Path) -> dict:
    _touch(root, "a.jpg", "sub/b.mp4")
    return {"n": 2, "fake": 0, "videos": {"a.jpg", "sub/b.mp4"}, "manipulations": {"original"}, "detect": None}


TREES = {"folder": _tree_folder, "csv": _tree_csv, "seed001": _tree_seed001, "ffpp": _tree_ffpp,
         "celebdf": _tree_celebdf, "dfdc": _tree_dfdc, "140k": _tree_140k, "media": _tree_media}  # fmt: skip


def test_every_registered_reader_has_a_test_tree():
    assert set(list_datasets()) == set(TREES)


@pytest.mark.parametrize("name", sorted(TREES))
def test_dataset_reader_on_its_documented_layout(name, tmp_path):
    expect = TREES[name](tmp_path)
    root = tmp_path / expect.get("file", "")
    recs = read_dataset(name, root)
    assert len(recs) == expect["n"]
    assert sum(r.label for r in recs) == expect["fake"]
    assert {r.video for r in recs} == expect["videos"]
    assert {r.manipulation for r in recs} == expect["manipulations"]
    assert all(Path(r.path).is_file() for r in recs)
    assert recs == read_dataset(name, root)  # deterministic order
    if expect.get("detect", name) is not None and name != "seed001":
        assert detect_dataset(root) == name


def test_ffpp_pairs_masks_and_official_split(tmp_path):
    _tree_ffpp(tmp_path)
    recs = {r.video: r for r in read_dataset("ffpp", tmp_path)}
    df = recs["Deepfakes/000_003"]
    assert (df.label, df.identity, df.source_identity) == (1, "000", "003")
    assert df.mask and df.mask.endswith("manipulated_sequences/Deepfakes/masks/videos/000_003.mp4")
    assert recs["Deepfakes/003_000"].mask is None and recs["FaceShifter/003_000"].mask is None
    assert recs["original/000"].label == 0 and recs["original/000"].split == "test"
    assert {r.split for r in recs.values()} == {"test"}
    assert len(read_dataset("ffpp", tmp_path, compression="c40")) == 1
    assert {r.manipulation for r in read_dataset("ffpp", tmp_path, methods="Face2Face") if r.label} == {"Face2Face"}


def test_celebdf_test_list_means_one_is_real(tmp_path):
    _tree_celebdf(tmp_path)
    recs = {r.video: r for r in read_dataset("celebdf", tmp_path)}
    yt, syn = recs["YouTube-real/00000"], recs["Celeb-synthesis/id0_id1_0000"]
    assert (yt.label, yt.split) == (0, "test") and (syn.label, syn.split) == (1, "test")
    assert (syn.identity, syn.source_identity) == ("id0", "id1")
    assert recs["Celeb-real/id0_0000"].split == "train"
    (tmp_path / "List_of_testing_videos.txt").write_text("0 YouTube-real/00000.mp4\n")
    with pytest.raises(ValueError, match="other label"):
        read_dataset("celebdf", tmp_path)


def test_dfdc_groups_fakes_with_their_original(tmp_path):
    _tree_dfdc(tmp_path)
    recs = read_dataset("dfdc", tmp_path)
    assert {r.identity for r in recs} == {"aaa"}


def test_csv_rejects_unknown_labels(tmp_path):
    (tmp_path / "l.csv").write_text("path,label\nx.png,maybe\n")
    with pytest.raises(ValueError, match="unknown label"):
        read_dataset("csv", tmp_path / "l.csv")


# ------------------------------------------------------------------------------------------- splits


def _ffpp_like(n_ids: int = 40) -> list[FaceRecord]:
    """Real videos of n_ids persons and face swaps between pairs (2k, 2k+1), 3 frames each."""
    recs = []
    for i in range(n_ids):
        for f in range(3):
            recs.append(FaceRecord(f"r{i}_{f}.png", 0, video=f"original/{i:03d}", identity=f"{i:03d}", frame=f))
    for i in range(0, n_ids, 2):
        for t, s in ((i, i + 1), (i + 1, i)):
            for f in range(3):
                recs.append(FaceRecord(f"f{t}_{s}_{f}.png", 1, video=f"DF/{t:03d}_{s:03d}", identity=f"{t:03d}",
                                       source_identity=f"{s:03d}", manipulation="Deepfakes", frame=f))  # fmt: skip
    return recs


@pytest.mark.parametrize("n_ids", [40, 6])  # StratifiedGroupKFold, and the greedy fallback
def test_no_identity_crosses_splits(n_ids, tmp_path):
    recs = _ffpp_like(n_ids)
    splits = make_splits(recs, seed=3)
    parts = split_records(recs, splits)
    assert sum(len(v) for v in parts.values()) == len(recs)
    side: dict[str, str] = {}
    for name, rs in parts.items():
        for r in rs:
            for person in (r.identity, r.source_identity):
                if person:
                    assert side.setdefault(person, name) == name, f"{person} in {side[person]} and {name}"
    assert all(parts[s] for s in ("train", "val", "test"))
    if n_ids == 40:
        assert len(parts["train"]) / len(recs) == pytest.approx(0.8, abs=0.1)
        for s in ("train", "val", "test"):  # stratified: both classes everywhere
            assert {r.label for r in parts[s]} == {0, 1}
    assert make_splits(recs, seed=3) == splits  # seeded
    assert make_splits(recs, seed=4)["videos"] != splits["videos"] or n_ids < 10
    save_splits(splits, tmp_path / "s.json")
    assert load_splits(tmp_path / "s.json") == splits


def test_official_split_is_kept_and_val_is_carved_from_train():
    recs = [r.with_(split="test" if int(r.identity) < 10 else "train") for r in _ffpp_like(40)]
    splits = make_splits(recs, seed=0)
    parts = split_records(recs, splits)
    assert {int(r.identity) for r in parts["test"]} == set(range(10))
    assert parts["val"] and all(int(r.identity) >= 10 for r in parts["val"])


# ------------------------------------------------------------------------------------------ metrics


def test_metrics_equal_hand_computed_values():
    y, p = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    m = binary_metrics(y, p, threshold=0.5)
    # predictions 0,0,0,1: TN=2 FP=0 FN=1 TP=1
    assert m["confusion_matrix"] == [[2, 0], [1, 1]]
    assert m["accuracy"] == 0.75 and m["precision"] == 1.0 and m["recall"] == 0.5
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["roc_auc"] == 0.75  # 3 of 4 (real, fake) pairs ordered correctly
    assert m["average_precision"] == pytest.approx((1.0 + 2 / 3) / 2)  # P@R=.5 is 1, P@R=1 is 2/3
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.6, 0.35, 0.8])))
    # EER: at threshold 0.4 FPR = 1/2 (0.4 ≥ 0.4) and FNR = 1/2 (0.35 missed)
    assert m["eer"] == pytest.approx(0.5) and m["eer_threshold"] == pytest.approx(0.4)
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.8])[0] == 0.0
    assert equal_error_rate([1, 1, 0, 0], [0.1, 0.2, 0.7, 0.8])[0] == 1.0
    # FPR/FNR cross between ROC points (FPR 1/3, FNR 1/2) and (1/3, 0): EER = 1/3
    assert equal_error_rate([0, 0, 0, 1, 1], [0.1, 0.6, 0.3, 0.5, 0.9])[0] == pytest.approx(1 / 3)
    one = binary_metrics([0, 0], [0.2, 0.7])
    assert one["roc_auc"] is None and one["eer"] is None and one["accuracy"] == 0.5


# ---------------------------------------------------------------------------------------------- SBI


def _template_landmarks(size: int = 256) -> np.ndarray:
    """A plausible frontal 68-point layout (iBUG order) scaled to a size×size crop."""
    t = np.linspace(0, np.pi, 17)
    jaw = np.stack([128 - 72 * np.cos(t), 118 + 92 * np.sin(t)], 1)
    brows = np.stack([np.r_[np.linspace(70, 118, 5), np.linspace(138, 186, 5)], np.full(10, 82.0)], 1)
    nose = np.r_[np.stack([np.full(4, 128.0), np.linspace(98, 138, 4)], 1),
                 np.stack([np.linspace(112, 144, 5), np.full(5, 148.0)], 1)]  # fmt: skip
    a = np.linspace(0, 2 * np.pi, 7)[:-1]
    eyes = np.r_[np.stack([96 + 14 * np.cos(a), 104 + 6 * np.sin(a)], 1),
                 np.stack([160 + 14 * np.cos(a), 104 + 6 * np.sin(a)], 1)]  # fmt: skip
    b, c = np.linspace(0, 2 * np.pi, 13)[:-1], np.linspace(0, 2 * np.pi, 9)[:-1]
    mouth = np.r_[np.stack([128 + 30 * np.cos(b), 182 + 12 * np.sin(b)], 1),
                  np.stack([128 + 20 * np.cos(c), 182 + 5 * np.sin(c)], 1)]  # fmt: skip
    lm = np.r_[jaw, brows, nose, eyes, mouth].astype(np.float32)
    assert lm.shape == (68, 2)
    return lm * (size / 256.0)


def _face_image(seed: int, size: int = 256) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (0, 0), 3)
    cv2.ellipse(img, (size // 2, int(size * 0.55)), (int(size * 0.3), int(size * 0.38)), 0, 0, 360,
                tuple(int(v) for v in rng.integers(120, 230, 3)), -1)  # fmt: skip
    return img


def test_sbi_fake_differs_from_its_source_only_inside_its_mask():
    img, lm = _face_image(0), _template_landmarks()
    for seed in range(12):
        s = self_blend(img, lm, np.random.default_rng(seed))
        assert s.fake.shape == img.shape and s.fake.dtype == np.uint8
        assert s.mask.shape == img.shape[:2] and s.mask.min() >= 0 and s.mask.max() <= 1
        changed = (s.fake != s.real).any(axis=2)
        assert changed.any(), "the blend changed nothing"
        assert not (changed & (s.mask <= 0)).any(), "pixels changed outside the blend mask"
        inside = hull_mask(img.shape[:2], lm, "face") > 0
        assert (s.mask > 0.5 * s.mask.max())[~inside].mean() < 0.2  # the mask sits on the face
        assert s.real.shape == img.shape
    a, b = self_blend(img, lm, np.random.default_rng(7)), self_blend(img, lm, np.random.default_rng(7))
    assert np.array_equal(a.fake, b.fake) and np.array_equal(a.mask, b.mask)


# ----------------------------------------------------------------------------------------- training


def _tiny_crops(folder: Path, n: int = 12, size: int = 256, landmarks: bool = False, reals_only: bool = False) -> Path:
    """n synthetic 'face crops': reals are dark, fakes bright (separable), one identity each."""
    folder.mkdir(parents=True, exist_ok=True)
    lm = _template_landmarks(size)
    recs = []
    for i in range(n):
        label = 0 if reals_only else i % 2
        img = _face_image(i, size)
        img = (img * 0.5 + (120 if label else 0)).astype(np.uint8)
        p = folder / f"{i:03d}.png"
        cv2.imwrite(str(p), img)
        lp = None
        if landmarks:
            lp = folder / f"{i:03d}.json"
            lp.write_text(json.dumps({"size": size, "margin": 0.3, "landmarks68": lm.tolist()}))
        recs.append(FaceRecord(p.name, label, video=f"v{i}", identity=f"p{i}", landmarks=lp.name if lp else None))
    write_records_csv(recs, folder / "faces.csv")
    return folder / "faces.csv"


def _cfg(tmp: Path, data: Path, **kw) -> TrainConfig:
    base = dict(model="meso4", weights=None, data=str(data), out=str(tmp / "run"), epochs=2, batch_size=4,
                lr=5e-3, split_ratios=(0.5, 0.25, 0.25), augment=False, early_stopping=0, tensorboard=False,
                threads=2, eval_batch_size=16)  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def _bce(model, data: Path, split_file: Path) -> float:
    from fakescope.training.data import FaceDataset
    from fakescope.training.evaluate import predict

    recs = split_records(read_dataset("csv", data), load_splits(split_file))["train"]
    y, p, _ = predict(model, FaceDataset(recs, 256))
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_a_few_training_steps_lower_the_loss(tmp_path):
    from fakescope.models import create_model

    data = _tiny_crops(tmp_path / "crops")
    cfg = _cfg(tmp_path, data, epochs=3, max_steps_per_epoch=2)
    torch.manual_seed(cfg.seed)
    before_model = create_model("meso4", weights=None)
    res = train(cfg)
    assert res.status == "finished" and res.global_step == 6
    before = _bce(before_model, data, tmp_path / "run" / "splits.json")
    after = _bce(load_trained_model(tmp_path / "run" / "last"), data, tmp_path / "run" / "splits.json")
    assert after < before
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    meta = json.loads((tmp_path / "run" / "best" / "meta.json").read_text())
    assert meta["architecture"] == "meso4" and "fake" in meta["label_convention"]
    assert meta["preprocessing"]["value_range"] == [0.0, 1.0] and meta["training_data"]["train"]["faces"] > 0
    assert (tmp_path / "run" / "config.yaml").is_file() and (tmp_path / "run" / "test" / "metrics.json").is_file()
    # training state: only weights_only-loadable contents
    state = torch.load(tmp_path / "run" / "last" / "state.pt", weights_only=True)
    assert state["progress"]["epoch"] == 3 and "optimizer" in state and "rng" in state


def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path):
    data = _tiny_crops(tmp_path / "crops", landmarks=True, reals_only=True)
    common = dict(epochs=2, max_steps_per_epoch=3, sbi=True, augment={"hflip": 0.5, "jpeg": 0.5, "affine": 0.0,
                  "blur": 0.0, "colour": 0.5}, freeze_epochs=1, warmup_epochs=0.5, batch_size=2)  # fmt: skip
    full = train(_cfg(tmp_path / "a", data, **common))
    assert full.status == "finished"
    # interrupted in the middle of the second epoch (step 5 of 6), then resumed
    cfg_b = _cfg(tmp_path / "b", data, **common)
    stopped = train(cfg_b, on_step=lambda step: step == 5)
    assert stopped.status == "interrupted" and stopped.global_step == 5
    resumed = train(cfg_b)
    assert resumed.status == "finished" and resumed.global_step == 6
    a = load_file(str(tmp_path / "a" / "run" / "last" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "run" / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ------------------------------------------------------------------------------------- end to end

runner = CliRunner()


def _cli(*args):
    from fakescope.cli import app

    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r


@pytest.mark.skipif(not shape_predictor_available(), reason="needs dlib-bin and libdlib-data (68 landmarks)")
def test_extract_train_evaluate_end_to_end_on_real_faces(samples, tmp_path):
    from fakescope.faces import create_face_detector
    from fakescope.media import load_image
    from fakescope.pipeline import Analyzer

    media = tmp_path / "media"
    media.mkdir()
    for name in ("multi_face.jpg", "single_face.jpg", "single_face.mp4"):
        (media / name).symlink_to(samples / name)
    out = tmp_path / "faces"
    _cli("extract-faces", media, "--dataset", "media", "--out", out, "--model", "meso4", "--frames", "even:3")
    recs = read_dataset("csv", out / "faces.csv")
    assert len(recs) == 5 + 1 + 3
    # the crop is exactly the one analyze classifies: same detector, settings, box and crop function
    analyzer = Analyzer(model="meso4", weights=None)
    image = load_image(media / "single_face.jpg")
    det = analyzer.detector.detect(image)[0]
    from fakescope.faces.crop import crop_face

    expected = crop_face(image, det.box, analyzer.input_size, analyzer.config.margin)
    saved = next(r for r in recs if r.video == "single_face.jpg")
    assert np.array_equal(cv2.cvtColor(cv2.imread(saved.path), cv2.COLOR_BGR2RGB), expected)
    info = json.loads(Path(saved.landmarks).read_text())
    assert len(info["landmarks68"]) == 68 and len(info["landmarks5"]) == 5 and info["size"] == 256
    # the recorded settings are analyze's: a detector from the registry, its margin, the model's size
    settings = json.loads((out / "extract.json").read_text())
    cfg = analyzer.config
    assert (settings["detector"], settings["margin"], settings["size"], settings["sampling"]) == (
        cfg.detector, cfg.margin, analyzer.input_size, "even:3")
    assert (settings["det_threshold"], settings["detect_max_side"], settings["min_face_size"]) == (
        cfg.det_threshold, cfg.detect_max_side, cfg.min_face_size)
    assert type(create_face_detector(settings["detector"])) is type(analyzer.detector)
    # resumable: a second run skips every input
    r = _cli("extract-faces", media, "--dataset", "media", "--out", out, "--model", "meso4", "--frames", "even:3")
    said = " ".join(r.output.split())  # rich wraps long paths wherever the terminal width falls
    assert "3 already done" in said
    run = tmp_path / "run"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"model: meso4\nweights: null\ndata: {out}\nout: {run}\nsbi: true\nepochs: 1\nbatch_size: 2\n"
                   "max_steps_per_epoch: 2\nsplit_ratios: [0.34, 0.33, 0.33]\ntensorboard: false\n")  # fmt: skip
    _cli("train", "--config", cfg, "lr=0.001")
    assert (run / "best" / "model.safetensors").is_file()
    ev = tmp_path / "eval"
    _cli("evaluate", out, "--checkpoint", run / "best", "--out", ev, "--sbi", "--min-faces", "1")
    rep = json.loads((ev / "metrics.json").read_text())
    assert rep["frame"]["n"] == 2 * len(recs) and rep["frame"]["roc_auc"] is not None
    assert rep["video"]["n"] == 6 and "SBI" in rep["per_manipulation"]
    for f in ("roc_frame.png", "pr_frame.png", "confusion_frame.png", "roc_video.png", "metrics.md"):
        assert (ev / f).is_file(), f


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        s.options = {"crf": "10"}
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def test_extract_faces_cuts_ffpp_masks_with_the_face_box(samples, tmp_path):
    from fakescope.media import load_image
    from fakescope.training import ExtractConfig, extract_faces

    img = load_image(samples / "single_face.jpg")
    img = cv2.resize(img, (320, round(img.shape[0] * 320 / img.shape[1]) // 2 * 2))
    h, w = img.shape[:2]
    mask = np.zeros_like(img)
    mask[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 255  # "manipulated" region around the face
    root = tmp_path / "ffpp"
    _write_video(root / "original_sequences/youtube/c23/videos/000.mp4", [img] * 3)
    _write_video(root / "manipulated_sequences/Deepfakes/c23/videos/000_003.mp4", [img] * 3)
    _write_video(root / "manipulated_sequences/Deepfakes/masks/videos/000_003.mp4", [mask] * 3)
    recs = read_dataset("ffpp", root)
    summary = extract_faces(recs, tmp_path / "out", ExtractConfig(size=64, sampling="all", landmarks68=False))
    assert summary.faces == 6 and not summary.failed
    faces = read_dataset("csv", tmp_path / "out")
    fakes = [r for r in faces if r.label == 1]
    assert len(fakes) == 3 and all(r.mask for r in fakes) and not any(r.mask for r in faces if r.label == 0)
    assert {(r.identity, r.source_identity, r.manipulation) for r in fakes} == {("000", "003", "Deepfakes")}
    m = cv2.imread(fakes[0].mask, cv2.IMREAD_GRAYSCALE)
    assert m.shape == (64, 64) and m[24:40, 24:40].min() > 200  # the face centre is inside the mask


def test_config_yaml_overrides_and_unknown_keys(tmp_path):
    from fakescope.cli import app
    from fakescope.training import load_config

    f = tmp_path / "c.yaml"
    f.write_text("model: custom_cnn\nweights: null\nepochs: 5\naugment:\n  jpeg: 0.5\n")
    cfg = load_config(f, ["epochs=2", "augment.blur=0", "split_ratios=[0.7,0.2,0.1]", "weights=none"])
    assert (cfg.model, cfg.epochs, cfg.weights, cfg.split_ratios) == ("custom_cnn", 2, None, (0.7, 0.2, 0.1))
    assert cfg.augment == {"jpeg": 0.5, "blur": 0}
    with pytest.raises(ValueError, match="did you mean 'epochs'"):
        load_config(f, ["epoch=3"])
    r = runner.invoke(app, ["train", "--config", str(f), "lr_rate=1"])
    assert r.exit_code == 2 and "unknown training setting" in r.output


def test_clahe_and_bf16_training_round_trip(tmp_path):
    from fakescope.training.augment import ClaheInput, apply_clahe

    data = _tiny_crops(tmp_path / "crops", n=8)
    res = train(_cfg(tmp_path, data, epochs=1, max_steps_per_epoch=1, clahe=True, bf16=True, balance="sampler"))
    assert res.status == "finished"
    model = load_trained_model(tmp_path / "run" / "best")
    assert isinstance(model, ClaheInput) and model.info.name == "meso4"  # CLAHE runs inside forward
    x = torch.rand(2, 3, 256, 256, requires_grad=True)
    model(x).sum().backward()  # straight-through: explainers still get an input gradient
    assert x.grad is not None and x.grad.abs().sum() > 0
    img = (np.random.default_rng(0).random((32, 32, 3)) * 80).astype(np.uint8)
    assert apply_clahe(img).shape == img.shape and apply_clahe(img).std() > img.std()


def test_shipped_sbi_detector_loads_and_reproduces_its_recorded_scores(mesonet_faces):
    import fakescope.models.sbi  # noqa: F401  (registers sbi_mobilenetv2 until models/__init__ imports it)
    from fakescope.models import create_model, get_model_info
    from fakescope.pipeline import Analyzer

    wi = get_model_info("sbi_mobilenetv2").weights["sbi"]
    meta = json.loads((wi.path.parent / "meta.json").read_text())
    assert meta["architecture"] == "mobilenetv2" and meta["preprocessing"]["margin"] == 0.3
    model = create_model("sbi_mobilenetv2")  # checks the sha256
    assert model.weights_tag == "sbi"
    recorded = {r["image"]: r["sbi"] for r in meta["evaluation"]["mesonet_faces"]}
    analyzer = Analyzer(model="sbi_mobilenetv2", weights="sbi", calibration="none")
    res = analyzer.analyze(mesonet_faces / "df" / "df01254.jpg")
    assert res.frames[0].faces[0].p_fake == pytest.approx(recorded["df/df01254.jpg"], abs=1e-4)
