"""A tiny real dataset on disk and helpers to run ``python -m sdmr.train`` as users do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sdmr.data.toy import make_toy_dataset

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"
#: Shrinks any experiment to seconds: no worker processes, csv logger, val on 2 images.
FAST = ["logger=csv", "data.num_workers=0", "data.val_size=2"]


@pytest.fixture(scope="session")
def toy_root(tmp_path_factory) -> Path:
    return make_toy_dataset(tmp_path_factory.mktemp("toy"), num_images=8, height=96, width=128, seed=0)


def run_train(args: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "sdmr.train", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def train_cli():
    return run_train


@pytest.fixture
def fast() -> list[str]:
    return list(FAST)


@pytest.fixture
def repo() -> Path:
    return REPO
