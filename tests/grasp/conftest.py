"""Tiny grasping runs: 128×96 images, 1–4 procedural objects, 3 reference views; real pybullet and pyrender."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def _tiny_config(**overrides):
    from sdmr.grasp.config import GraspConfig

    values = {"trials": 2, "width": 128, "height": 96, "min_objects": 3, "max_objects": 4, "num_procedural": 20,
              "min_target_pixels": 20, "target_views": 3, "seed": 1}
    return GraspConfig(**{**values, **overrides})


@pytest.fixture
def tiny_config():
    """A factory: ``tiny_config(**overrides)`` → a `GraspConfig` for a fast real run."""
    return _tiny_config


@pytest.fixture(scope="module")
def world():
    from sdmr.grasp.world import TrialWorld

    built = TrialWorld(_tiny_config())
    yield built
    built.close()
