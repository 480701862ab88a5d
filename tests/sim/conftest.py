"""Tiny generator configs shared by the sim tests: 64×96 images, ≤ 3 procedural objects."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


@pytest.fixture
def tiny_values() -> dict:
    """Config overrides (the dict form `build_config` takes) for a fast, real generation run."""
    return {
        "preset": "sim2real",
        "seed": 3,
        "num_images": 6,
        "views_per_heap": 2,
        "test_fraction": 0.34,
        "camera": {"width": 96, "height": 64},
        "scene": {"max_objects": 3, "poisson_lambda": 2.5, "kind": "mix"},
        "objects": {"source": "procedural", "num_procedural": 10, "test_fraction": 0.3},
        "render": {"min_visible_pixels": 1},
    }
