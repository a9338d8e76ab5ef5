import random

from fakescope.tracking import IouTracker, iou


def test_iou_basic():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 15, 10)) - 50 / 150) < 1e-9


def _two_people(n=20):
    """Two faces walking towards each other's side but never overlapping, one lost for 2 samples."""
    frames = []
    for i in range(n):
        a = (100 + 8 * i, 100, 180 + 8 * i, 180)
        b = (600 - 8 * i, 120, 690 - 8 * i, 210)
        boxes = [a, b]
        if 8 <= i < 10:
            boxes = [b]  # person A not detected for two samples
        frames.append(boxes)
    return frames


def test_two_people_give_two_tracks_despite_gap():
    tr = IouTracker(max_gap=3)
    seen = {}
    for boxes in _two_people():
        ids = tr.update(boxes)
        for box, tid in zip(boxes, ids, strict=True):
            who = "A" if box[1] == 100 else "B"
            seen.setdefault(who, set()).add(tid)
    assert seen == {"A": {0}, "B": {1}}


def test_detection_order_does_not_mix_identities():
    rng = random.Random(0)
    ref, shuffled = IouTracker(), IouTracker()
    for boxes in _two_people():
        ids_ref = dict(zip(boxes, ref.update(boxes), strict=True))
        perm = boxes[:]
        rng.shuffle(perm)
        ids_sh = dict(zip(perm, shuffled.update(perm), strict=True))
        assert ids_ref == ids_sh


def test_large_jump_between_sparse_samples_still_links():
    tr = IouTracker()
    # a face moving 60 px between samples (no overlap with a 50 px box) stays one identity
    ids = [tr.update([(x, 50, x + 50, 100)])[0] for x in range(0, 600, 60)]
    assert set(ids) == {0}


def test_face_lost_too_long_starts_new_track():
    tr = IouTracker(max_gap=1)
    box = (10, 10, 60, 60)
    a = tr.update([box])[0]
    tr.update([])
    tr.update([])
    tr.update([])
    b = tr.update([box])[0]
    assert a != b


def test_far_away_face_is_a_new_identity():
    tr = IouTracker()
    a = tr.update([(0, 0, 50, 50)])[0]
    b = tr.update([(500, 500, 550, 550)])[0]
    assert a != b


def test_live_ids_are_the_tracks_the_next_sample_can_still_extend():
    t = IouTracker(max_gap=2)
    assert t.live_ids() == set()
    a, b = (10, 10, 50, 50), (300, 10, 340, 50)
    assert t.update([a, b]) == [0, 1]
    assert t.live_ids() == {0, 1}
    t.update([a])  # b missed once
    assert t.live_ids() == {0, 1}
    t.update([a])  # b missed twice: still joinable (max_gap 2)
    assert t.live_ids() == {0, 1}
    t.update([a])  # a third miss: b is closed
    assert t.live_ids() == {0}
    assert t.update([a, b]) == [0, 2]  # and a face there now starts a new identity
    t.update([])
    t.update([])
    t.update([])
    assert t.live_ids() == set()
