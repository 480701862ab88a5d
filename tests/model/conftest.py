"""Fixtures for model tests: small real models saved as real files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sdmr.model import build_sdmask_rcnn
from sdmr.model.checkpoint import export_model

#: Small, fast settings; an untrained model's low scores still produce detections at threshold 0.
TINY_KWARGS = {"anchor_sizes": [16, 32, 64, 128, 256], "box_score_thresh": 0.0, "box_detections_per_img": 10}


@pytest.fixture(scope="session")
def exported_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    export_model(build_sdmask_rcnn(**TINY_KWARGS), TINY_KWARGS, "median_relative", path)
    return path


@pytest.fixture
def depth_image():
    """A 96×128 plane at 0.8 m with two boxes standing on it, and some invalid pixels."""
    import numpy as np

    depth = np.full((96, 128), 0.8, dtype=np.float32)
    depth[20:50, 20:60] = 0.72
    depth[40:80, 70:110] = 0.75
    depth[0:3, 0:5] = 0.0
    depth[90, 100] = np.nan
    return depth


#: Training focal length recorded in ``focal_checkpoint``: a 128-px-wide frame with fx = 200 gets scale 0.5.
TINY_TRAIN_FOCAL = 100.0
#: The smallest model card the bundle exporter accepts.
TINY_CARD = {
    "name": "tiny test model",
    "data_command": "sdmr-generate --output data/tiny --num-images 8",
    "train_command": "python -m sdmr.train experiment=cpu_small trainer.max_steps=3",
    "config": {"model": TINY_KWARGS},
    "steps": 3,
    "wall_time": "1 s",
    "hardware": "test runner CPU",
    "metrics": {"synthetic test": {"AP": 0.0, "AR": 0.0}},
    "intended": {"distance_m": [0.6, 1.6], "cameras": "any, with intrinsics"},
}


@pytest.fixture(scope="session")
def focal_checkpoint(tmp_path_factory) -> Path:
    """A real Lightning ``.ckpt`` of the training module (untrained), recording its training focal length."""
    import pytorch_lightning as pl

    from sdmr.model.lightning_module import SDMaskRCNNModule

    torch.manual_seed(0)
    module = SDMaskRCNNModule(model_kwargs=TINY_KWARGS, train_focal_px=TINY_TRAIN_FOCAL)
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.strategy.connect(module)
    path = tmp_path_factory.mktemp("ckpt") / "last.ckpt"
    trainer.save_checkpoint(path)
    return path


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory, focal_checkpoint) -> Path:
    """The four bundled-model files, exported from ``focal_checkpoint`` into a temporary folder."""
    from sdmr.model.bundled import export_bundled_model

    folder = tmp_path_factory.mktemp("weights")
    export_bundled_model(focal_checkpoint, TINY_CARD, folder)
    return folder


@pytest.fixture(scope="session")
def tiny_spec() -> dict:
    """The constants above, for test modules (conftest is not importable under --import-mode=importlib)."""
    return {"kwargs": TINY_KWARGS, "card": TINY_CARD, "focal": TINY_TRAIN_FOCAL}
