"""`paint_labels`: the one rule for overlapping masks (highest score wins; ties and no scores: earlier)."""

from __future__ import annotations

import numpy as np

from sdmr.data.instances import Instances, paint_labels
from sdmr.segment import label_image


def test_highest_score_wins_and_ties_or_no_scores_go_to_the_earlier_mask():
    masks = np.zeros((3, 4, 4), dtype=bool)
    masks[0, :2] = True  # rows 0-1
    masks[1, 1:3] = True  # rows 1-2: overlaps mask 0 on row 1
    masks[2, 2:] = True  # rows 2-3: overlaps mask 1 on row 2
    assert paint_labels(masks)[:, 0].tolist() == [1, 1, 2, 3]  # no scores: earlier wins
    assert paint_labels(masks, np.array([0.1, 0.9, 0.5]))[:, 0].tolist() == [1, 2, 2, 3]
    assert paint_labels(masks, np.array([0.5, 0.5, 0.9]))[:, 0].tolist() == [1, 1, 3, 3]  # tie 0/1: earlier
    inst = Instances(masks, scores=np.array([0.1, 0.9, 0.5]))
    assert np.array_equal(label_image(inst), paint_labels(masks, inst.scores))  # sdmr-segment uses it
    disjoint = Instances(masks[[0, 2]], scores=np.array([0.1, 0.9]))
    assert disjoint.to_label_image()[:, 0].tolist() == [1, 1, 2, 2]
