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
