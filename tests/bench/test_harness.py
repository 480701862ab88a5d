"""The harness in-process: known answers through test plugins, failures per image, resume, workers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from sdmr.bench.harness import RESULT_KEYS, BenchConfig, MethodFailed, run_benchmark
from sdmr.bench.registry import ParameterError
from sdmr.data import DataError


def config(dataset: Path, out: Path, *methods: str, **kw) -> BenchConfig:
    return BenchConfig(dataset=str(dataset), output=str(out), methods=list(methods), split=None,
                       show_progress=False, **kw)


def test_oracle_scores_perfectly_and_dropping_objects_costs_recall(plugins, toy_dataset, tmp_path) -> None:
    doc = run_benchmark(config(toy_dataset, tmp_path / "run", "oracle", "nothing"))
    oracle, nothing = doc["methods"]["oracle"], doc["methods"]["nothing"]
    for key in RESULT_KEYS:
        assert key in oracle and key in nothing
    assert (oracle["AP"], oracle["AR"], oracle["overlap_F"], oracle["boundary_F"]) == (1.0, 1.0, 1.0, 1.0)
    assert (nothing["AP"], nothing["AR"], nothing["overlap_F"]) == (0.0, 0.0, 0.0)
    assert nothing["overlap_P"] == 1.0 and nothing["num_failed"] == 0  # empty output is valid
    dropped = run_benchmark(config(toy_dataset, tmp_path / "drop", "oracle", params=["drop_last=true"]))
    gt = json.loads((tmp_path / "run" / "ground_truth.json").read_text())
    per_image = np.bincount([a["image_id"] for a in gt["annotations"]])[1:]
    expected_recall = float(np.sum(per_image - 1) / np.sum(per_image))
    assert dropped["methods"]["oracle"]["AR"] == pytest.approx(expected_recall)
    assert dropped["methods"]["oracle"]["params"] == {"drop_last": True, "label": "x"}


def test_bad_outputs_fail_their_image_and_the_run_goes_on(plugins, toy_dataset, tmp_path) -> None:
    doc = run_benchmark(config(toy_dataset, tmp_path / "run", "flaky"))
    result = doc["methods"]["flaky"]
    rows = list(csv.DictReader((tmp_path / "run" / "per_image.csv").open()))
    status = {int(r["image_id"]): (r["status"], r["error"]) for r in rows}
    assert len(status) == 8 and result["num_failed"] == 6
    for image_id, (state, error) in status.items():
        kind = image_id % 4
        assert state == ("ok" if kind == 3 else "failed")
        if kind == 0:
            assert "97×128" in error and "96×128" in error
        if kind == 1:
            assert "ndarray" in error
        if kind == 2:
            assert "RuntimeError: flaky method blew up" in error
    assert 0 < result["AR"] < 1  # the good images still count
    # a resumed run tries the failed images again (and they fail again, the same way)
    progress = tmp_path / "run" / "methods" / "flaky" / "progress.jsonl"
    again = run_benchmark(config(toy_dataset, tmp_path / "run", "flaky"))
    assert len(progress.read_text().splitlines()) == 8 + 6
    assert again["methods"]["flaky"]["num_failed"] == 6 and again["methods"]["flaky"]["AR"] == result["AR"]


def test_same_error_on_the_first_images_stops_the_run(plugins, toy_dataset, tmp_path, cli) -> None:
    with pytest.raises(MethodFailed, match="first 3 images with the same error.*no model loaded"):
        run_benchmark(config(toy_dataset, tmp_path / "run", "needs_setup"))
    assert len((tmp_path / "run" / "methods" / "needs_setup" / "progress.jsonl").read_text().splitlines()) == 3
    result = cli("--method", "needs_setup", "--dataset", str(toy_dataset), "--output", str(tmp_path / "cli"),
                 pythonpath=plugins)
    assert result.returncode == 2 and "pass checkpoint=PATH" in result.stderr


def test_interrupted_run_resumes_without_redoing_images(plugins, toy_dataset, tmp_path, monkeypatch) -> None:
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("SDMR_TEST_CALL_LOG", str(calls))
    monkeypatch.setenv("SDMR_TEST_STOP_AFTER", "3")
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(config(toy_dataset, out, "oracle"))
    progress = out / "methods" / "oracle" / "progress.jsonl"
    assert len(progress.read_text().splitlines()) == 3
    with progress.open("a") as handle:  # a torn line, as a crash mid-write would leave
        handle.write('{"position": 7, "trunc')
    monkeypatch.setenv("SDMR_TEST_STOP_AFTER", "-1")
    doc = run_benchmark(config(toy_dataset, out, "oracle"))
    image_ids = [int(x) for x in calls.read_text().split()]
    assert len(image_ids) == 4 + 5  # 3 stored + the crashing call, then only the 5 missing images
    assert len(set(image_ids[4:])) == 5 and not set(image_ids[4:]) & set(image_ids[:3])
    assert doc["methods"]["oracle"]["num_images"] == 8 and doc["methods"]["oracle"]["AP"] == 1.0
    with pytest.raises(DataError, match="different params"):
        run_benchmark(config(toy_dataset, out, "oracle", params=["drop_last=true"]))


def test_workers_give_the_same_numbers(toy_dataset, tmp_path) -> None:
    one = run_benchmark(config(toy_dataset, tmp_path / "one", "connected_components", num_overlays=0))
    two = run_benchmark(config(toy_dataset, tmp_path / "two", "connected_components", num_overlays=0, workers=2))
    a, b = one["methods"]["connected_components"], two["methods"]["connected_components"]
    for key in ("AP", "AR", "overlap_F", "boundary_F", "num_images"):
        assert a[key] == b[key]
    assert (tmp_path / "one" / "methods" / "connected_components" / "detections.json").read_text() == \
        (tmp_path / "two" / "methods" / "connected_components" / "detections.json").read_text()


def test_unlabelled_dataset_is_a_clear_error(tmp_path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    np.save(folder / "frame0.npy", np.full((32, 32), 0.8, dtype=np.float32))
    with pytest.raises(DataError, match="no ground-truth labels"):
        run_benchmark(config(folder, tmp_path / "out", "connected_components"))
    assert not (tmp_path / "out").exists()


def test_param_for_no_selected_method_is_refused(toy_dataset, tmp_path) -> None:
    with pytest.raises(ParameterError, match="no selected method has a parameter 'drop_lst'"):
        run_benchmark(config(toy_dataset, tmp_path / "out", "connected_components", params=["drop_lst=1"]))


def test_refuses_to_write_into_a_foreign_folder(toy_dataset, tmp_path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("someone else's")
    with pytest.raises(DataError, match="not an sdmr-bench run folder"):
        run_benchmark(config(toy_dataset, out, "connected_components"))


def test_fit_split_is_passed_to_fit(plugins, toy_dataset, tmp_path, monkeypatch) -> None:
    from sdmr.data.wisdom import WisdomDataset

    log = tmp_path / "fit.txt"
    monkeypatch.setenv("SDMR_TEST_FIT_LOG", str(log))
    run_benchmark(BenchConfig(dataset=str(toy_dataset), output=str(tmp_path / "run"), methods=["oracle"],
                              split="test", fit_split="train", show_progress=False, num_overlays=0))
    fitted = sorted(int(i) for i in log.read_text().split())
    assert fitted == sorted(int(i) for i in WisdomDataset(toy_dataset, split="train").indices)


def test_original_protocol_pads_to_512(toy_dataset, tmp_path) -> None:
    doc = run_benchmark(config(toy_dataset, tmp_path / "run", "connected_components", protocol="original",
                               num_overlays=1))
    detections = json.loads((tmp_path / "run" / "methods" / "connected_components" / "detections.json").read_text())
    assert detections and all(d["segmentation"]["size"] == [512, 512] and d["score"] == 1.0 for d in detections)
    standard = run_benchmark(config(toy_dataset, tmp_path / "std", "connected_components", num_overlays=0))
    # padding does not move IoUs, and the toy bin masks never cover an object: same numbers
    assert doc["methods"]["connected_components"]["AP"] == pytest.approx(
        standard["methods"]["connected_components"]["AP"])
    assert list((tmp_path / "run" / "overlays" / "connected_components").glob("best_01_*.png"))


def test_corrupt_run_files_are_data_errors(toy_dataset, tmp_path) -> None:
    from sdmr.bench.report import compare_runs

    out = tmp_path / "run"
    out.mkdir()
    (out / "run_config.json").write_text("{not json")
    with pytest.raises(DataError, match=r"run_config\.json: run configuration is not valid JSON.*Fix: pass --overwrite"):
        run_benchmark(config(toy_dataset, out, "connected_components"))
    (out / "results.json").write_text("[1, 2]")
    with pytest.raises(DataError, match=r"results\.json: run results must be a JSON object.*Fix: rerun"):
        compare_runs([out], tmp_path / "cmp")
    with pytest.raises(DataError, match=r"results\.json: run results not found.*Fix: pass a finished"):
        compare_runs([tmp_path / "nope"], tmp_path / "cmp")


@pytest.mark.parametrize("option", [{"protocol": "paper"}, {"backend": "detectron2"}])
def test_unknown_protocol_or_backend_is_refused_before_any_work(toy_dataset, tmp_path, option) -> None:
    with pytest.raises(ValueError, match=f"unknown .*{next(iter(option.values()))}"):
        run_benchmark(config(toy_dataset, tmp_path / "out", "connected_components", **option))
    assert not (tmp_path / "out").exists()


def test_missing_faster_coco_eval_is_refused_before_any_work(toy_dataset, tmp_path, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "faster_coco_eval", None)  # import raises ImportError
    with pytest.raises(ImportError, match="faster-coco-eval"):
        run_benchmark(config(toy_dataset, tmp_path / "out", "connected_components", backend="faster"))
    assert not (tmp_path / "out").exists()


def test_unknown_fit_split_is_refused_before_the_run_folder_is_made(toy_dataset, tmp_path) -> None:
    with pytest.raises(DataError):
        run_benchmark(BenchConfig(dataset=str(toy_dataset), output=str(tmp_path / "out"),
                                  methods=["connected_components"], split="test",
                                  fit_split="nosuchsplit", show_progress=False))
    assert not (tmp_path / "out").exists()
