"""Overlap/boundary P/R/F: hand-made cases and a loop-by-loop port of uois as the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from sdmr.bench.overlap import (
    boundary_map,
    boundary_tolerance,
    disk,
    mean_overlap_metrics,
    overlap_boundary_metrics,
)
from sdmr.data import DataError, Instances


def boxes(size: int, spec: list[tuple[int, int, int, int]]) -> Instances:
    masks = np.zeros((len(spec), size, size), dtype=bool)
    for k, (y0, x0, y1, x1) in enumerate(spec):
        masks[k, y0:y1, x0:x1] = True
    return Instances(masks)


A, B = (5, 5, 15, 15), (20, 20, 30, 30)  # two 10×10 squares


def test_perfect_prediction_is_all_ones() -> None:
    gt = boxes(40, [A, B])
    assert overlap_boundary_metrics(gt, gt) == {
        "overlap_P": 1.0, "overlap_R": 1.0, "overlap_F": 1.0,
        "boundary_P": 1.0, "boundary_R": 1.0, "boundary_F": 1.0, "pct_objects_F75": 1.0,
    }


def test_one_of_two_objects_found() -> None:
    result = overlap_boundary_metrics(boxes(40, [A, B]), boxes(40, [B]))
    assert result["overlap_P"] == 1.0
    assert result["overlap_R"] == 0.5  # 100 of 200 object pixels
    assert result["overlap_F"] == pytest.approx(2 / 3)
    assert result["boundary_P"] == 1.0
    assert result["boundary_R"] == 0.5  # equal squares have equal outlines
    assert result["pct_objects_F75"] == 0.5


def test_two_objects_merged_into_one_prediction() -> None:
    merged = Instances(boxes(40, [A, B]).masks.any(axis=0, keepdims=True))
    result = overlap_boundary_metrics(boxes(40, [A, B]), merged)
    # matched to one square: 100 true pixels of 200 predicted and of 200 ground-truth pixels
    assert result["overlap_P"] == 0.5 and result["overlap_R"] == 0.5
    # the pair's own F is 2·(0.5·1)/(1.5) = 2/3 < 0.75
    assert result["pct_objects_F75"] == 0.0


@pytest.mark.parametrize(
    ("num_gt", "num_pred", "expected"),
    [(2, 0, (1.0, 0.0, 0.0, 0.0)), (0, 2, (0.0, 1.0, 0.0, 0.0)), (0, 0, (1.0, 1.0, 1.0, 1.0))],
)
def test_empty_cases_follow_uois(num_gt: int, num_pred: int, expected: tuple[float, ...]) -> None:
    gt = boxes(40, [A, B][:num_gt])
    pred = boxes(40, [A, B][:num_pred])
    result = overlap_boundary_metrics(gt, pred)
    p, r, f, pct = expected
    assert (result["overlap_P"], result["overlap_R"], result["overlap_F"]) == (p, r, f)
    assert (result["boundary_P"], result["boundary_R"], result["boundary_F"]) == (p, r, f)
    assert result["pct_objects_F75"] == pct


def test_empty_masks_are_not_objects() -> None:
    gt = boxes(40, [A, B])
    with_empty = Instances(np.concatenate([gt.masks, np.zeros((1, 40, 40), bool)]))
    assert overlap_boundary_metrics(gt, with_empty)["overlap_P"] == 1.0


def test_boundary_tolerance_absorbs_a_one_pixel_shift() -> None:
    gt = boxes(40, [A])
    shifted = boxes(40, [(5, 6, 15, 16)])
    tolerant = overlap_boundary_metrics(gt, shifted, tolerance_px=1)
    strict = overlap_boundary_metrics(gt, shifted, tolerance_px=0)
    assert tolerant["boundary_F"] == 1.0
    assert strict["boundary_F"] < 0.7
    assert tolerant["overlap_F"] == pytest.approx(0.9)  # 90 of 100 pixels either way


def test_boundary_map_and_disk_by_hand() -> None:
    seg = np.zeros((1, 8, 8), dtype=bool)
    seg[0, 2:5, 2:5] = True
    outline = boundary_map(seg)[0]
    expected = np.zeros((8, 8), dtype=bool)
    expected[1, 1:5] = True  # the row above (differs from its south neighbour)
    expected[2:5, 1] = True  # the column to the left
    expected[2:5, 4] = True  # the object's own right column
    expected[4, 2:5] = True  # and bottom row
    np.testing.assert_array_equal(outline, expected)
    assert disk(1).sum() == 5 and disk(2).sum() == 13
    assert boundary_tolerance(480, 640) == 3
    assert boundary_tolerance(128, 128) == math.ceil(0.003 * math.hypot(128, 128))


def test_mismatched_sizes_raise() -> None:
    with pytest.raises(DataError, match="40×40"):
        overlap_boundary_metrics(boxes(40, [A]), boxes(30, [A]))
    with pytest.raises(DataError, match="must be a bool N×H×W array.*Fix:"):
        overlap_boundary_metrics(boxes(40, [A]), boxes(40, [A]).masks.astype(np.uint8))


# ----------------------------------------------------------------- reference port of uois
def uois_multilabel_metrics(gt_label: np.ndarray, pred_label: np.ndarray, radius: int | None = None) -> dict:
    """chrisdxie/uois ``multilabel_metrics`` written out with its per-pair loops (ids ≥ 1 kept)."""
    gt_ids = [i for i in np.unique(gt_label) if i != 0]
    pred_ids = [i for i in np.unique(pred_label) if i != 0]
    radius = math.ceil(0.003 * np.linalg.norm(gt_label.shape)) if radius is None else radius
    f = np.zeros((len(gt_ids), len(pred_ids)))
    tp = np.zeros_like(f)
    bstuff = np.zeros((len(gt_ids), len(pred_ids), 2))
    footprint = disk(radius)

    def outline(m: np.ndarray) -> np.ndarray:
        return boundary_map(m[None])[0]

    for i, g in enumerate(gt_ids):
        gm = gt_label == g
        for j, p in enumerate(pred_ids):
            pm = pred_label == p
            tp[i, j] = np.count_nonzero(gm & pm)
            prec, rec = tp[i, j] / pm.sum(), tp[i, j] / gm.sum()
            if prec + rec > 0:
                f[i, j] = 2 * prec * rec / (prec + rec)
            fb, gb = outline(pm), outline(gm)
            fd = ndimage.binary_dilation(fb, structure=footprint)
            gd = ndimage.binary_dilation(gb, structure=footprint)
            bstuff[i, j] = ((fb & gd).sum(), (gb & fd).sum())
    rows, cols = linear_sum_assignment(-f)
    op = tp[rows, cols].sum() / np.count_nonzero(pred_label)
    orr = tp[rows, cols].sum() / np.count_nonzero(gt_label)
    pred_b = sum(outline(pred_label == p).sum() for p in pred_ids)
    gt_b = sum(outline(gt_label == g).sum() for g in gt_ids)
    bp, br = bstuff[rows, cols, 0].sum() / pred_b, bstuff[rows, cols, 1].sum() / gt_b

    def fm(p: float, r: float) -> float:
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    return {"overlap_P": op, "overlap_R": orr, "overlap_F": fm(op, orr), "boundary_P": bp,
            "boundary_R": br, "boundary_F": fm(bp, br),
            "pct_objects_F75": np.count_nonzero(f[rows, cols] > 0.75) / len(gt_ids)}


def random_labels(rng: np.random.Generator, size: int, count: int) -> np.ndarray:
    label = np.zeros((size, size), dtype=np.uint16)
    for k in range(1, count + 1):
        y, x = rng.integers(0, size - 6, 2)
        h, w = rng.integers(5, size // 2, 2)
        label[y : y + h, x : x + w] = k
    return label


@pytest.mark.parametrize("radius", [None, 3])
def test_matches_loop_reference_on_random_label_images(radius: int | None) -> None:
    rng = np.random.default_rng(11)
    per_image = []
    for _ in range(12):
        gt = random_labels(rng, 96, int(rng.integers(1, 6)))
        pred = random_labels(rng, 96, int(rng.integers(1, 7)))
        gt_inst, pred_inst = Instances.from_label_image(gt), Instances.from_label_image(pred)
        ours = overlap_boundary_metrics(gt_inst, pred_inst, tolerance_px=radius)
        reference = uois_multilabel_metrics(gt, pred, radius)
        for key, value in reference.items():
            assert ours[key] == pytest.approx(value, abs=1e-9), key
        per_image.append(ours)
    mean = mean_overlap_metrics(per_image)
    assert mean["overlap_F"] == pytest.approx(np.mean([r["overlap_F"] for r in per_image]))


def davis_seg2bmap(seg: np.ndarray) -> np.ndarray:
    """DAVIS ``seg2bmap`` as published (same-size case), for one H×W mask."""
    seg = seg.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def test_boundary_map_equals_davis_seg2bmap_including_borders() -> None:
    rng = np.random.default_rng(5)
    masks = rng.random((6, 23, 17)) > 0.6  # speckle touches every border
    ours = boundary_map(masks)
    for mask, outline in zip(masks, ours, strict=True):
        np.testing.assert_array_equal(outline, davis_seg2bmap(mask))


@pytest.mark.parametrize("shape", [(3, 7, 5), (4, 48, 64), (1, 1, 1)])
def test_packed_intersections_count_every_pixel(shape: tuple[int, int, int], monkeypatch) -> None:
    from sdmr.evaluation import overlap

    rng = np.random.default_rng(sum(shape))
    a = rng.random(shape) > 0.5
    b = rng.random((5, *shape[1:])) > 0.3
    expected = a.reshape(len(a), -1).astype(int) @ b.reshape(len(b), -1).astype(int).T
    np.testing.assert_array_equal(overlap.pairwise_intersections(a, b), expected)
    np.testing.assert_array_equal(overlap.mask_areas(a), a.reshape(len(a), -1).sum(1))
    monkeypatch.setattr(overlap, "_CHUNK_WORDS", 3)  # force row chunks
    np.testing.assert_array_equal(overlap.pairwise_intersections(a, b), expected)
    assert overlap.pairwise_intersections(a[:0], b).shape == (0, 5)
    words = overlap.pack_masks(a)  # the numpy < 2 byte-table path counts the same bits
    np.testing.assert_array_equal(overlap._BYTE_POPCOUNT[words.view(np.uint8)].sum(-1), overlap.mask_areas(a))
