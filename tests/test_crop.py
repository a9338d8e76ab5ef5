import numpy as np

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
