"""euclidean_clustering and region_growing as methods: presets, predictions, bad input, backends, fit."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sdmr_baselines.euclidean_clustering import EuclideanClustering
from sdmr_baselines.region_growing import RegionGrowing

from sdmr.bench.method import FitConfig
from sdmr.bench.tuning import FITTED_PARAMS_FILE, coco_ap
from sdmr.data.errors import DataError
from sdmr.data.instances import Instances
from sdmr.data.toy import make_toy_dataset, render_toy_scene
from sdmr.data.wisdom import WisdomDataset
from sdmr.pointcloud.camera import PointCloudWarning

# toy images are 128×96 (about 4.5 mm between neighbouring points at 0.8 m): paper-size limits
# (450 points) would drop every object, so the tests scale the settings to the images
SMALL = {"use_bin_mask": False, "min_cluster_size": 20}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> WisdomDataset:
    return WisdomDataset(make_toy_dataset(tmp_path_factory.mktemp("toy") / "toy", num_images=8, seed=3), split=None)


def test_presets_set_the_papers_values_and_explicit_parameters_win() -> None:
    assert RegionGrowing().params.smoothness == 0.2 and RegionGrowing().params.min_cluster_size == 800
    low = RegionGrowing(preset="paper_lowres").params
    assert (low.smoothness, low.curvature_threshold, low.min_cluster_size) == (0.39, 0.09, 450)
    table = RegionGrowing(preset="tabletop", smoothness=0.25).params
    assert (table.num_neighbours, table.smoothness, table.curvature_threshold) == (15, 0.25, 0.05)
    assert EuclideanClustering(preset="paper_lowres").params.cluster_tolerance == 0.004
    with pytest.raises(DataError, match="unknown preset"):
        EuclideanClustering(preset="fast")
    with pytest.raises(DataError, match="cluster size limits"):
        EuclideanClustering(min_cluster_size=10, max_cluster_size=5)


@pytest.mark.parametrize("method", [EuclideanClustering(cluster_tolerance=0.012, **SMALL),
                                    RegionGrowing(normal_neighbours=20, num_neighbours=10, smoothness=0.5,
                                                  curvature_threshold=0.1, **SMALL)])
def test_methods_find_the_toy_objects_largest_first(method, toy) -> None:
    predictions = [method.predict(sample) for sample in toy]
    assert coco_ap([s["instances"] for s in toy], predictions) > 0.7
    for pred in predictions:
        areas = pred.masks.sum(axis=(1, 2))
        assert np.all(np.diff(areas) <= 0) and not np.any(pred.masks.sum(axis=0) > 1)  # sorted, disjoint


@pytest.mark.parametrize("cls", [EuclideanClustering, RegionGrowing])
def test_an_all_invalid_frame_is_an_empty_prediction_with_one_message(cls) -> None:
    sample = render_toy_scene(np.random.default_rng(0))
    sample["depth"] = np.zeros_like(sample["depth"])
    sample["name"] = "blank_frame"
    with pytest.warns(PointCloudWarning, match="blank_frame: no valid depth") as record:
        pred = cls().predict(sample)
    assert isinstance(pred, Instances) and len(pred) == 0 and pred.image_size == sample["depth"].shape
    assert len(record) == 1


def test_backend_pcl_without_pcl_is_a_clear_error(monkeypatch) -> None:
    from sdmr.pointcloud import pcl_backend

    monkeypatch.setattr(pcl_backend, "available", lambda: False)
    monkeypatch.setattr(pcl_backend, "why_unavailable", lambda: "the binding is not built (test)")
    sample = render_toy_scene(np.random.default_rng(0))
    sample.pop("bin_mask")
    with pytest.raises(DataError, match=r"backend=pcl.*not built \(test\)") as err:
        EuclideanClustering(backend="pcl", **SMALL).predict(sample)
    assert "Fix:" in str(err.value) and "backend=pip" in str(err.value)


def test_fit_moves_away_from_a_bad_start_writes_the_choice_and_a_later_run_loads_it(toy, tmp_path) -> None:
    bad = {"cluster_tolerance": 0.05, **SMALL}  # merges neighbouring objects
    gts = [s["instances"] for s in toy]
    before = coco_ap(gts, [EuclideanClustering(**bad).predict(s) for s in toy])
    method = EuclideanClustering(**bad, fit_tolerance=(0.05, 0.012, 0.008), fit_min_size=(20, 60))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PointCloudWarning)
        method.fit(toy, FitConfig(output_dir=tmp_path))
    assert method.params.cluster_tolerance != 0.05
    assert coco_ap(gts, [method.predict(s) for s in toy]) > before + 0.1
    written = json.loads((tmp_path / FITTED_PARAMS_FILE).read_text())
    assert written["method"] == "euclidean_clustering" and len(written["search"]) == 6
    assert written["search"][0]["cluster_tolerance"] == 0.05  # the starting setting is scored first
    loaded = EuclideanClustering(params_file=str(tmp_path / FITTED_PARAMS_FILE))
    assert loaded.params.cluster_tolerance == method.params.cluster_tolerance
    assert loaded.params.min_cluster_size == method.params.min_cluster_size
    with pytest.raises(DataError, match="not fitted parameters of 'region_growing'"):
        RegionGrowing(params_file=str(tmp_path / FITTED_PARAMS_FILE))


def test_region_growing_fit_reuses_normals_and_picks_a_better_setting(toy) -> None:
    start = {"normal_neighbours": 20, "num_neighbours": 10, "smoothness": 0.02, "curvature_threshold": 0.1, **SMALL}
    gts = [s["instances"] for s in toy]
    before = coco_ap(gts, [RegionGrowing(**start).predict(s) for s in toy])
    method = RegionGrowing(**start, fit_smoothness=(0.02, 0.5), fit_curvature=(0.1,), fit_neighbours=(10,),
                           fit_min_size=(20,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PointCloudWarning)
        method.fit(toy)
    assert method.params.smoothness == 0.5
    assert coco_ap(gts, [method.predict(s) for s in toy]) > before + 0.1
