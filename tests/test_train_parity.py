"""Training sees, pixel for pixel, what ``analyze`` feeds the model (issue 12).

The face crops written by ``extract-faces`` and the tensor the training dataset builds from them must
equal the crop and the tensor of ``Analyzer`` for the same image — here a real photo placed so that the
face touches the frame's edge, where the crop square extends past the frame and is filled with black.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fakescope.training.augment import AugmentConfig, Augmenter, frame_edge


def _edge_photo(tmp_path):
    """skimage's astronaut (public domain), cut so her face sits at the top-left corner of the frame."""
    import cv2
    from skimage import data

    img = data.astronaut()[50:400, 165:480]  # face box (178, 63, 267, 175) about 13 px from the top/left
    path = tmp_path / "edge.png"
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path, img


def test_training_crop_and_tensor_equal_analyze_pixel_for_pixel(tmp_path):
    from fakescope import Analyzer
    from fakescope.training import FaceRecord
    from fakescope.training.data import FaceDataset, load_crop
    from fakescope.training.extract import ExtractConfig, FaceExtractor

    path, _ = _edge_photo(tmp_path)
    analyzer = Analyzer(model="sbi_mobilenetv2", weights="sbi")
    seen: list[torch.Tensor] = []
    classify = analyzer.classifier

    def recording(x):
        seen.append(x.detach().clone())
        return classify(x)

    analyzer.classifier = recording
    result = analyzer.analyze(path)
    assert len(seen) == 1 and seen[0].shape[0] == 1, "one face expected"

    size = analyzer.input_size
    rows = FaceExtractor(ExtractConfig(size=size, landmarks68=False)).extract(FaceRecord(str(path), 0), tmp_path / "x")
    assert len(rows) == 1
    crop = load_crop(rows[0].path)
    analyze_crop = (seen[0][0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert (crop[:8] == 0).all() or (crop[:, :8] == 0).all(), "the crop should reach past the frame (black fill)"
    np.testing.assert_array_equal(crop, analyze_crop)  # extract-faces == analyze, every pixel

    x, y = FaceDataset(rows, size)[0]  # what the trainer feeds the model (no augmentation)
    assert x.shape == (1, 3, size, size) and y.tolist() == [0.0]
    torch.testing.assert_close(x, seen[0].contiguous(), rtol=0, atol=0)
    # and the recorded score is the model's score of that very tensor
    with torch.no_grad():
        p = torch.sigmoid(analyzer.model(x)).item()
    assert p == pytest.approx(result.frames[0].faces[0].p_fake, abs=1e-5)


def test_frame_edge_augmentation_blacks_out_bands_like_crop_face():
    rng = np.random.default_rng(0)
    img = np.full((224, 224, 3), 128, np.uint8)
    outs = [frame_edge(img, np.random.default_rng(s), p=1.0, max_frac=0.25) for s in range(50)]
    for o in outs:
        black = (o == 0).all(axis=2)
        assert black.any() and black.mean() <= 1 - 0.75**2 + 1e-6
        rows, cols = black.all(axis=1), black.all(axis=0)
        assert (black == (rows[:, None] | cols[None, :])).all(), "only whole rows/columns along the sides"
    assert frame_edge(img, rng, p=0.0) is img
    aug = Augmenter(AugmentConfig(hflip=0, affine=0, jpeg=0, blur=0, colour=0, edge=1.0))
    a, b = aug(img, 7), aug(img, 7)
    np.testing.assert_array_equal(a, b)  # same seed, same bands: a real and its SBI get the same edges
    assert (a == 0).any()


def test_corpus_sbi_weights_load_and_reproduce_their_recorded_scores(mesonet_faces):
    import json

    from fakescope.models import create_model, get_model_info
    from fakescope.pipeline import Analyzer

    wi = get_model_info("sbi_mobilenetv2").weights["corpus"]
    meta = json.loads((wi.path.parent / "meta.json").read_text())
    assert meta["architecture"] == "mobilenetv2" and meta["preprocessing"]["margin"] == 0.3
    assert meta["training_data"]["train"]["identities"] > 1000  # the corpus, not a few dozen people
    assert create_model("sbi_mobilenetv2", weights="corpus").weights_tag == "corpus"  # checks the sha256
    recorded = {r["image"]: r["p_fake"] for r in meta["evaluation"]["mesonet_faces"]}
    res = Analyzer(model="sbi_mobilenetv2", weights="corpus").analyze(mesonet_faces / "df" / "df01254.jpg")
    assert res.frames[0].faces[0].p_fake == pytest.approx(recorded["df/df01254.jpg"], abs=1e-4)
