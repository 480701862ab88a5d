"""Fixtures for the benchmark tests: a toy dataset on disk and a hand-installed plugin package."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sdmr.data.toy import make_toy_dataset

REPO = Path(__file__).resolve().parents[2]
OCID_DEV = REPO.parent / "shared" / "samples" / "ocid_dev"

PLUGIN_SOURCE = '''
"""Third-party test methods: an oracle, broken outputs, and nothing at all."""
import os
from dataclasses import dataclass

import numpy as np

from sdmr.bench.method import BaseMethod
from sdmr.data import Instances


def truth(sample):
    """The labels, read from disk: the harness hands methods samples without them."""
    from sdmr.data.wisdom import WisdomDataset

    assert "instances" not in sample, "the harness leaked the labels to the method"
    return WisdomDataset(os.environ["SDMR_TEST_ORACLE_ROOT"], split=None).read(sample["image_id"])["instances"]


@dataclass
class OracleParams:
    drop_last: bool = False
    label: str = "x"


class Oracle(BaseMethod):
    """Returns the ground truth (optionally without its last object); logs calls; can crash on cue."""

    name = "oracle"
    summary = "ground truth echoed back (test plugin)"
    Params = OracleParams

    def fit(self, train, cfg=None):
        log = os.environ.get("SDMR_TEST_FIT_LOG")
        if log:
            with open(log, "w") as handle:
                handle.write(" ".join(str(s["image_id"]) for s in train))

    def predict(self, sample):
        log = os.environ.get("SDMR_TEST_CALL_LOG")
        if log:
            with open(log, "a") as handle:
                handle.write(f"{sample['image_id']}\\n")
            stop = int(os.environ.get("SDMR_TEST_STOP_AFTER", "-1"))
            if stop >= 0 and len(open(log).read().split()) > stop:
                raise KeyboardInterrupt("simulated crash")
        gt = truth(sample)
        keep = len(gt) - 1 if self.params.drop_last else len(gt)
        return Instances(gt.masks[:keep].copy())


class Flaky(BaseMethod):
    """Wrong shape, wrong type, exception or right answer, by image id modulo 4."""

    name = "flaky"
    summary = "misbehaves on purpose (test plugin)"

    def predict(self, sample):
        h, w = sample["depth"].shape
        kind = sample["image_id"] % 4
        if kind == 0:
            return Instances.empty(h + 1, w)
        if kind == 1:
            return np.zeros((1, h, w), dtype=np.uint8)
        if kind == 2:
            raise RuntimeError("flaky method blew up")
        return Instances(truth(sample).masks.copy())


class NeedsSetup(BaseMethod):
    """Fails every image the same way, like a model method started without its checkpoint."""

    name = "needs_setup"
    summary = "always misconfigured (test plugin)"

    def predict(self, sample):
        from sdmr.data import DataError

        raise DataError("no model loaded", fix="pass checkpoint=PATH")


class Nothing(BaseMethod):
    name = "nothing"
    summary = "finds no object (test plugin)"

    def predict(self, sample):
        return Instances.empty(*sample["depth"].shape)
'''

ENTRY_POINTS = """[sdmr.methods]
oracle = sdmr_testplugins:Oracle
flaky = sdmr_testplugins:Flaky
nothing = sdmr_testplugins:Nothing
needs_setup = sdmr_testplugins:NeedsSetup
broken = sdmr_testplugins_missing:Gone
"""


@pytest.fixture(scope="session")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that, put on sys.path/PYTHONPATH, installs the test plugins (as pip would)."""
    root = tmp_path_factory.mktemp("plugins")
    (root / "sdmr_testplugins.py").write_text(PLUGIN_SOURCE)
    info = root / "sdmr_testplugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sdmr-testplugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return root


@pytest.fixture
def plugins(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test plugins installed into this process for one test."""
    monkeypatch.syspath_prepend(str(plugin_dir))
    importlib.invalidate_caches()
    return plugin_dir


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 labelled toy images in our WISDOM layout, 4 of them in the test split."""
    return make_toy_dataset(tmp_path_factory.mktemp("toy") / "toy", num_images=8, seed=3, test_fraction=0.5)


@pytest.fixture(autouse=True)
def oracle_reads_the_toy_labels(toy_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the test plugins' oracle finds the labels (subprocesses inherit it too)."""
    monkeypatch.setenv("SDMR_TEST_ORACLE_ROOT", str(toy_dataset))


def run_cli(*args: str, pythonpath: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``sdmr-bench ARGS`` in a fresh interpreter, as a user would run it."""
    full_env = {**os.environ, **(env or {})}
    if pythonpath is not None:
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), full_env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "sdmr.bench.cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=300, check=False)


@pytest.fixture
def cli():
    """The ``run_cli`` helper (conftest modules are not importable under --import-mode=importlib)."""
    return run_cli
