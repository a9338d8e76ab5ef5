import numpy as np
import pytest

from fakescope.faces.crop import crop_face, square_box


def test_square_box_margin():
    x1, y1, x2, y2 = square_box((100, 100, 200, 180), margin=0.3)
    assert x2 - x1 == y2 - y1 == 130  # (1 + 0.3) × longer side
    assert (x1 + x2) / 2 == 150 and (y1 + y2) / 2 == 140  # centred on the box


def test_crop_inside_and_resized():
    img = np.zeros((400, 400, 3), np.uint8)
    img[100:200, 100:200] = 255
    c = crop_face(img, (100, 100, 200, 200), size=256, margin=0.0)
    assert c.shape == (256, 256, 3) and c.dtype == np.uint8
    assert c.mean() > 250  # exactly the white square


def test_crop_outside_frame_padded_black_and_centred():
    img = np.full((100, 100, 3), 200, np.uint8)
    c = crop_face(img, (0, 0, 50, 50), size=100, margin=1.0)  # square 100 px centred at (25, 25)
    assert c.shape == (100, 100, 3)
    assert c[:20, :20].max() == 0  # outside the frame → black
    assert c[60:, 60:].min() == 200  # inside the frame → image


def test_reflect_padding_and_cubic_resize():
    """MesoNet's own rule: outside the frame is mirrored, not black; the resize is bicubic."""
    import cv2

    img = np.zeros((100, 100, 3), np.uint8)
    img[:, :50] = 200  # left half bright
    box = (0, 20, 60, 80)  # the crop square (78 px) extends 9 px past the left edge
    black = crop_face(img, box, 78, 0.3)
    refl = crop_face(img, box, 78, 0.3, padding="reflect")
    assert black[:, :9].max() == 0 and refl[:, :9].min() == 200  # the mirror of the bright left edge
    np.testing.assert_array_equal(black[:, 9:], refl[:, 9:])
    face = (np.random.default_rng(0).random((300, 300, 3)) * 255).astype(np.uint8)
    cubic = crop_face(face, (100, 100, 200, 200), 256, 0.3, resize="cubic")
    region = face[85:215, 85:215]
    np.testing.assert_array_equal(cubic, cv2.resize(region, (256, 256), interpolation=cv2.INTER_CUBIC))
    with pytest.raises(ValueError):
        crop_face(face, (100, 100, 200, 200), 256, 0.3, padding="zeros")
