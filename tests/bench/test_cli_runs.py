"""``sdmr-bench`` end to end in subprocesses: run folders, compare, third-party plugins."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from sdmr.bench.harness import RESULT_KEYS

REPO = Path(__file__).resolve().parents[2]
OCID_DEV = REPO.parent / "shared" / "samples" / "ocid_dev"
RUN_FILES = ("run_config.json", "results.json", "table.md", "table.csv", "per_image.csv", "ground_truth.json",
             "pr_curves.png")
METHOD_FILES = ("progress.jsonl", "detections.json", "pr_curve.json")


def check_run_folder(out: Path, methods: list[str], num_images: int) -> dict:
    """The stable schema every run folder has."""
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    doc = json.loads((out / "results.json").read_text())
    assert doc["schema_version"] == 1 and list(doc["methods"]) == methods
    assert {"config", "versions", "dataset", "created"} <= set(doc)
    assert doc["versions"]["numpy"] and doc["dataset"]["num_images"] == num_images
    gt = json.loads((out / "ground_truth.json").read_text())
    for method in methods:
        metrics = doc["methods"][method]
        assert set(RESULT_KEYS) <= set(metrics)
        assert metrics["num_images"] == num_images and metrics["seconds_per_image"] > 0
        assert {"data_seconds_mean", "predict_seconds_mean", "eval_seconds_mean"} <= set(metrics["timings"])
        for name in METHOD_FILES:
            assert (out / "methods" / method / name).is_file()
        detections = json.loads((out / "methods" / method / "detections.json").read_text())
        image_ids = {image["id"] for image in gt["images"]}
        assert all(d["image_id"] in image_ids and "counts" in d["segmentation"] for d in detections)
        overlays = sorted((out / "overlays" / method).glob("*.png"))
        assert overlays and all(Image.open(p).mode == "RGB" for p in overlays)
        assert method in (out / "table.md").read_text()
    return doc


def test_connected_components_on_toy_folder_then_resume_is_a_no_op(toy_dataset, tmp_path, cli) -> None:
    out = tmp_path / "cc"
    result = cli("--method", "connected_components", "--dataset", str(toy_dataset), "--output", str(out))
    assert result.returncode == 0, result.stderr
    doc = check_run_folder(out, ["connected_components"], num_images=4)
    assert doc["dataset"]["type"] == "wisdom_sim" and doc["dataset"]["split"] == "test"
    assert doc["methods"]["connected_components"]["AP"] > 0.4
    assert "| connected_components |" in result.stdout
    assert len(list((out / "overlays" / "connected_components").glob("*.png"))) == 6  # 3 worst + 3 best
    progress = out / "methods" / "connected_components" / "progress.jsonl"
    lines = progress.read_text()
    again = cli("--method", "connected_components", "--dataset", str(toy_dataset), "--output", str(out),
                "--no-progress", "--overlays", "1")
    assert again.returncode == 0
    redone = json.loads((out / "results.json").read_text())["methods"]["connected_components"]
    for key in ("AP", "AR", "overlap_F", "num_images"):  # nothing re-predicted, same scores
        assert redone[key] == doc["methods"]["connected_components"][key]
    assert len(list((out / "overlays" / "connected_components").glob("*.png"))) == 2
    assert progress.read_text() == lines


@pytest.mark.skipif(not OCID_DEV.is_dir(), reason="../shared/samples/ocid_dev not present")
def test_connected_components_on_real_ocid_frames(tmp_path, cli) -> None:
    out = tmp_path / "ocid"
    result = cli("--method", "connected_components", "--dataset", str(OCID_DEV), "--output", str(out),
                 "--overlays", "1")
    assert result.returncode == 0, result.stderr
    doc = check_run_folder(out, ["connected_components"], num_images=4)
    metrics = doc["methods"]["connected_components"]
    assert doc["dataset"]["type"] == "ocid"
    assert metrics["AP"] > 0.15 and metrics["overlap_F"] > 0.5


def test_compare_merges_two_runs(plugin_dir, toy_dataset, tmp_path, cli) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert cli("--method", "connected_components", "--dataset", str(toy_dataset), "--output", str(first),
               "--split", "all", "--overlays", "0").returncode == 0
    ran = cli("--methods", "oracle,connected_components", "--dataset", str(toy_dataset), "--output", str(second),
              "--param", "connected_components.min_area_fraction=0.02", "--overlays", "0",
              pythonpath=plugin_dir)
    assert ran.returncode == 0, ran.stderr
    merged = cli("compare", str(first), str(second), "--output", str(tmp_path / "cmp"))
    assert merged.returncode == 0, merged.stderr
    table = (tmp_path / "cmp" / "table.md").read_text()
    assert "toy:all AP" in table and "toy:test AP" in table
    assert "| oracle |" in table and "| connected_components |" in table
    assert (tmp_path / "cmp" / "pr_curves.png").stat().st_size > 0
    rows = (tmp_path / "cmp" / "table.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # header + cc on two splits + oracle
    second_doc = json.loads((second / "results.json").read_text())
    assert second_doc["methods"]["oracle"]["AP"] == 1.0
    assert second_doc["methods"]["connected_components"]["params"]["min_area_fraction"] == 0.02
    missing = cli("compare", str(tmp_path / "nope"), "--output", str(tmp_path / "cmp2"))
    assert missing.returncode == 2 and "results.json" in missing.stderr


@pytest.mark.slow  # builds and pip-installs a package (~10 s)
def test_pip_installed_third_party_plugin(tmp_path, toy_dataset, cli) -> None:
    """A real package with a pyproject entry point, pip-installed into a --target folder."""
    package = tmp_path / "pkg"
    (package / "sdmr_halves").mkdir(parents=True)
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "sdmr-halves"\nversion = "0.1"\n'
        '[project.entry-points."sdmr.methods"]\nhalves = "sdmr_halves:Halves"\n'
    )
    (package / "sdmr_halves" / "__init__.py").write_text(
        "from dataclasses import dataclass\n"
        "import numpy as np\n"
        "from sdmr.bench.method import BaseMethod\n"
        "from sdmr.data import Instances\n\n"
        "@dataclass\nclass HalvesParams:\n    vertical: bool = True\n\n"
        "class Halves(BaseMethod):\n"
        "    name = 'halves'\n    summary = 'splits the image in two (third-party example)'\n"
        "    Params = HalvesParams\n\n"
        "    def predict(self, sample):\n"
        "        h, w = sample['depth'].shape\n"
        "        left = np.zeros((h, w), bool)\n"
        "        left[:, : w // 2] = True\n"
        "        return Instances(np.stack([left, ~left]))\n"
    )
    target = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(package)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert pip.returncode == 0, pip.stderr
    listed = cli("--list", pythonpath=target)
    assert "halves" in listed.stdout and "--param vertical=True  [bool]" in listed.stdout
    out = tmp_path / "run"
    ran = cli("--method", "halves", "--dataset", str(toy_dataset), "--output", str(out), pythonpath=target)
    assert ran.returncode == 0, ran.stderr
    check_run_folder(out, ["halves"], num_images=4)
