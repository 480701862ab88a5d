"""The merged-pairs count next to AP, and a --fit-split run that leaves its fitted parameters behind."""

from __future__ import annotations

import json

import numpy as np

from sdmr.bench.metrics import merged_pairs
from sdmr.data.instances import Instances


def boxes(*spans: tuple[int, int]) -> np.ndarray:
    masks = np.zeros((len(spans), 10, 40), dtype=bool)
    for k, (a, b) in enumerate(spans):
        masks[k, :, a:b] = True
    return masks


def test_a_prediction_over_more_than_half_of_each_of_two_objects_merges_one_pair() -> None:
    gt = Instances(boxes((0, 10), (10, 20), (20, 30)))
    assert merged_pairs(gt, Instances(boxes((0, 10), (10, 20), (20, 30)))) == 0
    assert merged_pairs(gt, Instances(boxes((0, 20), (20, 30)))) == 1
    assert merged_pairs(gt, Instances(boxes((0, 30)))) == 3  # all three: 3 pairs
    assert merged_pairs(gt, Instances(boxes((0, 15)))) == 0  # exactly half of the second is not more than half
    assert merged_pairs(gt, Instances.empty(10, 40)) == 0


def test_fit_split_run_writes_fitted_params_and_reports_merged_pairs(toy_dataset, tmp_path, cli) -> None:
    out = tmp_path / "run"
    result = cli("--method", "euclidean_clustering", "--dataset", str(toy_dataset), "--output", str(out),
                 "--fit-split", "train", "--param", "use_bin_mask=false", "--param", "min_cluster_size=20",
                 "--param", "fit_tolerance=0.05,0.012", "--param", "fit_min_size=20", "--overlays", "0")
    assert result.returncode == 0, result.stderr
    fitted = json.loads((out / "methods" / "euclidean_clustering" / "fitted_params.json").read_text())
    assert fitted["params"]["cluster_tolerance"] == 0.012
    doc = json.loads((out / "results.json").read_text())["methods"]["euclidean_clustering"]
    assert doc["params"]["cluster_tolerance"] == 0.012 and doc["merged_pairs"] >= 0
    assert "merged pairs" in (out / "table.md").read_text()
