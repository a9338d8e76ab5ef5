"""evaluate: several models side by side, bootstrap 95 % intervals, small-sample warning (issue 15)."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from fakescope.cli import app
from fakescope.training.compare import bootstrap_ci, small_sample_warning


def test_bootstrap_intervals():
    y = np.array([0] * 40 + [1] * 40)
    separated = np.r_[np.linspace(0.0, 0.4, 40), np.linspace(0.6, 1.0, 40)]
    ci = bootstrap_ci(y, separated, n_boot=200)
    assert ci["roc_auc"] == [1.0, 1.0] and ci["accuracy"] == [1.0, 1.0] and ci["eer"] == [0.0, 0.0]
    rng = np.random.default_rng(0)
    noisy = np.clip(separated + rng.normal(0, 0.3, 80), 0, 1)
    ci = bootstrap_ci(y, noisy, n_boot=200)
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(y, noisy)
    assert ci["roc_auc"][0] < auc < ci["roc_auc"][1] and ci["roc_auc"][1] - ci["roc_auc"][0] > 0.02
    assert bootstrap_ci([0, 0, 0], [0.1, 0.2, 0.3]) is None  # one class: no interval
    assert small_sample_warning({"n_real": 29, "n_fake": 100}, "frame")
    assert small_sample_warning({"n_real": 30, "n_fake": 30}, "frame") is None


def test_cli_compares_models_side_by_side(tmp_path, mesonet_faces):
    rows = ["path,label"] + [f"{p},{'fake' if p.parent.name == 'df' else 'real'}"
                             for p in sorted(mesonet_faces.rglob("*.jpg"))]  # fmt: skip
    data = tmp_path / "faces"
    data.mkdir()
    (data / "faces.csv").write_text("\n".join(rows) + "\n")
    (data / "extract.json").write_text(json.dumps({"margin": 0.3, "size": 256}))
    out = tmp_path / "eval"
    r = CliRunner().invoke(app, ["evaluate", str(data), "--model", "meso4,mesoinception4", "--out", str(out)])
    assert r.exit_code == 0, r.output
    table = (out / "comparison.md").read_text()
    assert "| metric | meso4 | mesoinception4 |" in table and "AUC" in table and "[" in table
    assert "fewer than 30 per class" in table and "fewer than 30 per class" in " ".join(r.output.split())
    assert (out / "roc_compare.png").read_bytes().startswith(b"\x89PNG")
    for name in ("meso4", "mesoinception4"):
        metrics = json.loads((out / name / "metrics.json").read_text())
        assert set(metrics["frame"]["ci95"]) >= {"roc_auc", "accuracy", "eer"} and metrics["warnings"]
    from fakescope.pipeline import DEFAULT_MODEL

    r = CliRunner().invoke(app, ["evaluate", str(data), "--out", str(tmp_path / "default")])  # analyze's model(s)
    assert r.exit_code == 0, r.output
    names = DEFAULT_MODEL.split(",")
    for name in names:  # an ensemble default: its models side by side
        folder = tmp_path / "default" / (name if len(names) > 1 else "")
        assert json.loads((folder / "metrics.json").read_text())["title"].startswith(f"{name} on")
