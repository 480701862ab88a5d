"""One trial, end to end: real heaps, real rendering, real suction in pybullet, scored honestly."""

from __future__ import annotations

import numpy as np
import pytest

from sdmr.bench.method import BaseMethod
from sdmr.data.instances import Instances
from sdmr.grasp.attempt import attempt
from sdmr.grasp.execute import PickResult, execute_suction
from sdmr.grasp.identify import TargetModel
from sdmr.grasp.outcomes import classify, wilson_interval
from sdmr.grasp.runner import TrialRunner, build_methods
from sdmr.grasp.suction import plan_suction


def test_the_oracle_picks_a_single_isolated_object(tiny_config):
    runner = TrialRunner(tiny_config(min_objects=1, max_objects=1, seed=0, trials=3), {"oracle": []})
    try:
        records = [runner.run(k, ["oracle"])[0][1] for k in range(3)]
    finally:
        runner.close()
    for record in records:
        assert record["objects"] == 1 and record["masks"] == 1
        assert record["target_iou"] == 1.0  # identified from its reference views, and it is the one object
        assert record["contact"] == 0 and record["lifted"] == [0]
        assert record["outcome"] == "success", record["detail"]


def _other_object(trial) -> int:
    """A visible non-target object with room for the cup (the largest)."""
    ids = trial.truth.object_ids
    areas = trial.truth.masks.sum(axis=(1, 2))
    others = [i for i in np.argsort(-areas) if ids[i] != trial.target]
    return int(others[0])


def test_picking_the_wrong_object_is_a_failure(world):
    trial = world.trial(0)
    other = _other_object(trial)
    cfg = world.cfg
    grasp, reason = plan_suction(trial.sample["depth"], trial.truth.masks[other], trial.view.intrinsics,
                                 trial.view.world_from_camera, cfg.suction)
    assert grasp is not None, reason
    pick = execute_suction(world.sim, trial.heap, grasp, cfg.suction)
    wrong = int(trial.truth.object_ids[other])
    assert pick.contact == wrong and wrong in pick.lifted and trial.target not in pick.lifted
    assert classify(trial.target, pick) == "wrong_object"
    # the target together with another object is not a success either; nothing lifted is a failed grasp
    assert classify(trial.target, PickResult(trial.target, True, [trial.target, wrong])) == "wrong_object"
    assert classify(trial.target, PickResult(trial.target, True, [])) == "grasp_failed"
    assert classify(trial.target, PickResult(trial.target, True, [trial.target])) == "success"


class _NoMasks(BaseMethod):
    name = "no_masks"

    def predict(self, sample):
        return Instances.empty(*sample["depth"].shape)


class _Raises(BaseMethod):
    name = "raises"

    def predict(self, sample):
        raise RuntimeError("model file missing")


class _WrongSize(BaseMethod):
    name = "wrong_size"

    def predict(self, sample):
        return Instances.empty(7, 7)


@pytest.mark.parametrize(("method", "detail", "error"), [
    (_NoMasks(), "the method returned no masks", None),
    (_Raises(), "the method raised", "RuntimeError: model file missing"),
    (_WrongSize(), "the method raised", "ValueError: predict returned masks of (7, 7) for a (96, 128) image"),
])
def test_a_method_without_masks_ends_the_trial_as_no_segment(world, method, detail, error):
    trial = world.trial(1)
    model = TargetModel(world.reference_views(trial.heap.objects[trial.target], 2))
    record, timing = attempt(world, trial, method, model, world.cfg)
    assert record["outcome"] == "no_segment"
    assert record["detail"] == detail and record["error"] == error
    assert record["grasp"] is None and record["lifted"] == [] and timing["predict"] >= 0


def test_methods_never_see_the_labels(world):
    seen = {}

    class Peek(BaseMethod):
        name = "peek"

        def predict(self, sample):
            seen.update(sample)
            return Instances.empty(*sample["depth"].shape)

    trial = world.trial(0)
    attempt(world, trial, Peek(), TargetModel([]), world.cfg)
    assert set(seen) == {"depth", "color", "intrinsics", "image_id", "name"}
    clean = world.renderer.render(trial.view, amodal=False).depth
    assert not np.array_equal(seen["depth"], clean)  # sensor noise is on


def test_the_target_is_told_apart_by_its_reference_views(world):
    """Against the true masks of the heap, the target's own mask scores highest in these trials."""
    for k in range(2):
        trial = world.trial(k)
        model = TargetModel(world.reference_views(trial.heap.objects[trial.target], 3))
        chosen, scores = model.choose(trial.sample["color"], trial.sample["depth"], trial.truth.masks,
                                      trial.view.intrinsics)
        assert trial.truth.object_ids[chosen] == trial.target, scores


def test_wilson_interval_known_values():
    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert wilson_interval(0, 50)[0] == 0.0 and 0.07 < wilson_interval(0, 50)[1] < 0.072
    assert wilson_interval(50, 50)[1] == 1.0


@pytest.mark.slow
def test_every_installed_method_runs_through_the_same_predict(world):
    """Every sdmr-bench method that builds with its defaults (the bundled sdmr model included) attempts
    the same trial; whatever it returns ends as one of the outcomes, never a crash."""
    from sdmr.bench.registry import build_method, discover_methods
    from sdmr.errors import SdmrError
    from sdmr.grasp.outcomes import OUTCOMES

    runner = TrialRunner(world.cfg, {}, world)
    names = ["oracle"]
    for name in discover_methods():
        try:  # the fine-tuned baselines need a checkpoint to be ready: sdmr-grasp refuses them without one
            build_method(name).check_ready(runner.world.trial(0).sample, False)
        except SdmrError:
            continue
        names.append(name)
    assert {"sdmr", "connected_components", "euclidean_clustering", "region_growing"} <= set(names)
    runner.methods = build_methods({name: [] for name in names}, runner.world)
    results = runner.run(0, names)
    assert [name for name, _, _ in results] == names
    for name, record, timing in results:
        assert record["method"] == name and record["outcome"] in OUTCOMES
        assert timing["total"] >= timing["predict"] >= 0
    assert results[0][1]["outcome"] == "success"  # the oracle, on this heap
