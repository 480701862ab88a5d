"""A simple structured-light sensor model for sim-to-real: axial noise and edge dropout.

Rendered depth is perfect; real sensors have noise growing with distance squared and lose
pixels at depth discontinuities (shadowing). FINDINGS.md: 1.5 mm × d² noise plus dropout at
discontinuities was part of the recipe that transferred to a real tabletop camera. Masks are
left untouched: the labels stay the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdmr.data.corruption import discontinuities


@dataclass
class NoiseConfig:
    enabled: bool = False
    sigma_at_1m: float = 0.0015  # metres; standard deviation = sigma_at_1m × d²
    edge_threshold: float = 0.01  # metres between 4-neighbours that counts as a discontinuity
    edge_dropout: float = 0.5  # chance that a discontinuity pixel is lost
    edge_width: int = 1  # dilate the discontinuity by this many pixels
    random_dropout: float = 0.002  # chance that any pixel is lost


def add_sensor_noise(depth: np.ndarray, cfg: NoiseConfig, rng: np.random.Generator) -> np.ndarray:
    """Noisy copy of ``depth`` (float32 metres, 0 = invalid); invalid pixels stay 0."""
    depth = np.asarray(depth, dtype=np.float32)
    valid = depth > 0
    noisy = depth + rng.standard_normal(depth.shape).astype(np.float32) * (cfg.sigma_at_1m * depth**2)
    drop = discontinuities(depth, cfg.edge_threshold, cfg.edge_width) & (
        rng.random(depth.shape) < cfg.edge_dropout
    )
    drop |= rng.random(depth.shape) < cfg.random_dropout
    noisy[drop | ~valid] = 0.0
    return np.maximum(noisy, 0.0).astype(np.float32)
