"""Sensor-realistic depth corruption, applied on the fly to training samples (sim-to-real).

Rendered depth is perfect; a real structured-light or time-of-flight sensor is not. The model
trained on per-pixel noise alone reported 8–12 phantom objects on an empty real table: real
noise is *spatially correlated* (±1 cm undulations, residual std 3.5 mm against a fitted plane),
and a 5–10 mm bump then looks like an object (FINDINGS.md). Training on correlated noise removed
the phantoms in a measured side-by-side run. This module corrupts the *depth only*: the labels
stay the simulator's exact masks, so the model learns that such bumps are not objects.

Every effect is drawn from the ``numpy.random.Generator`` passed in, so a sample's corruption is
reproducible from its seed (the DataModule derives one per sample from torch's per-worker RNG).
Depth is float32 metres with 0 = invalid, as everywhere in sdmr.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy import ndimage

from sdmr.data.errors import DataError


@dataclass
class CorruptionConfig:
    """What to corrupt and how strongly. ``enabled: false`` leaves depth untouched.

    Noise standard deviations are in metres at 1 m and grow with depth² (axial noise of
    triangulating sensors). The correlated fields follow the measured recipe: a coarse
    Gaussian grid (3–8 × 4–10 cells, σ 0.5–4 mm) plus a finer one (12–30 × 16–40, σ 0.3–2.5 mm),
    each bicubically upsampled to the image.
    """

    enabled: bool = True
    pixel_sigma: tuple[float, float] = (0.0005, 0.002)  # i.i.d. axial noise σ at 1 m (drawn per image)
    scale_sigma: float = 0.003  # multiplicative: depth × (1 + ε), ε ~ N(0, σ) per image (calibration)
    coarse_cells: tuple[int, int] = (3, 8)  # grid rows; columns are 4/3 of that
    coarse_sigma: tuple[float, float] = (0.0005, 0.004)
    fine_cells: tuple[int, int] = (12, 30)
    fine_sigma: tuple[float, float] = (0.0003, 0.0025)
    quantization_probability: float = 0.5  # structured light: z ← 1 / (round(k / z) / k)
    quantization_k: tuple[float, float] = (300.0, 800.0)  # disparity steps per 1/metre
    edge_threshold: float = 0.015  # m between neighbours that counts as a depth discontinuity
    edge_dropout: float = 0.6  # chance that a discontinuity pixel (shadow band) is lost
    edge_width: tuple[int, int] = (1, 3)  # shadow band width in pixels (drawn per image)
    blob_count: tuple[int, int] = (0, 4)  # random holes per image (elliptic dropout blobs)
    blob_radius: tuple[float, float] = (0.01, 0.06)  # as a fraction of the image diagonal
    dark_object_probability: float = 0.1  # per object: dark/shiny surface loses depth ...
    dark_object_dropout: tuple[float, float] = (0.3, 0.9)  # ... on this fraction of its pixels
    random_dropout: float = 0.002  # chance that any pixel is lost

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Sequence) and not isinstance(value, str | tuple):  # lists from YAML/Hydra
                value = tuple(value)
                setattr(self, f.name, value)
            if isinstance(value, tuple):
                if len(value) != 2 or value[0] > value[1] or value[0] < 0:
                    raise DataError(
                        f"corruption.{f.name} must be a range [low, high] with 0 ≤ low ≤ high, got {list(value)}",
                        fix=f"e.g. data.corruption.{f.name}=[{getattr(CorruptionConfig, f.name)[0]},"
                        f"{getattr(CorruptionConfig, f.name)[1]}]",
                    )
            elif isinstance(value, float) and f.name.endswith(("probability", "dropout")) and not 0 <= value <= 1:
                raise DataError(
                    f"corruption.{f.name} must be a probability in [0, 1], got {value}",
                    fix=f"set data.corruption.{f.name} between 0 and 1",
                )

    def as_dict(self) -> dict:
        return asdict(self)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1])) if bounds[1] > bounds[0] else float(bounds[0])


def correlated_field(shape: tuple[int, int], cells: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random field: Gaussian values on a coarse grid, bicubically upsampled to ``shape``."""
    rows = int(rng.integers(cells[0], cells[1] + 1))
    cols = max(2, round(rows * 4 / 3))
    grid = rng.standard_normal((rows, cols)) * sigma
    zoomed = ndimage.zoom(grid, (shape[0] / rows, shape[1] / cols), order=3, mode="nearest", grid_mode=True)
    out = np.zeros(shape, dtype=np.float32)  # zoom may round one row/column off either way
    h, w = min(shape[0], zoomed.shape[0]), min(shape[1], zoomed.shape[1])
    out[:h, :w] = zoomed[:h, :w]
    if h < shape[0]:
        out[h:] = out[h - 1]
    if w < shape[1]:
        out[:, w:] = out[:, w - 1 : w]
    return out


def discontinuities(depth: np.ndarray, threshold: float, width: int) -> np.ndarray:
    """Pixels next to a depth jump larger than ``threshold`` (0 = invalid counts as a jump), grown by ``width``."""
    edges = np.zeros(depth.shape, dtype=bool)
    dy = np.abs(np.diff(depth, axis=0)) > threshold
    dx = np.abs(np.diff(depth, axis=1)) > threshold
    edges[1:] |= dy
    edges[:-1] |= dy
    edges[:, 1:] |= dx
    edges[:, :-1] |= dx
    if width > 1:
        edges = ndimage.binary_dilation(edges, iterations=width - 1)
    return edges


def dropout_blobs(shape: tuple[int, int], count: int, radius: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """``count`` random ellipses (radii a fraction of the diagonal), True inside."""
    h, w = shape
    diagonal = float(np.hypot(h, w))
    holes = np.zeros(shape, dtype=bool)
    rows, cols = np.ogrid[:h, :w]
    for _ in range(count):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = (_uniform(rng, radius) * diagonal for _ in range(2))
        angle = rng.uniform(0, np.pi)
        dy, dx = rows - cy, cols - cx
        u = (dx * np.cos(angle) + dy * np.sin(angle)) / rx
        v = (-dx * np.sin(angle) + dy * np.cos(angle)) / ry
        holes |= u * u + v * v <= 1.0
    return holes


def corrupt_depth(
    depth: np.ndarray,
    cfg: CorruptionConfig,
    rng: np.random.Generator,
    masks: np.ndarray | None = None,
) -> np.ndarray:
    """A corrupted copy of ``depth`` (float32 metres, 0 = invalid). Invalid pixels stay invalid.

    ``masks`` (bool N×H×W, read only) lets whole objects behave as dark or shiny surfaces.
    """
    depth = np.asarray(depth, dtype=np.float32)
    if not cfg.enabled:
        return depth.copy()
    valid = np.isfinite(depth) & (depth > 0)
    z = np.where(valid, depth, 0.0).astype(np.float64)
    shape = depth.shape

    if rng.random() < cfg.quantization_probability:
        k = _uniform(rng, cfg.quantization_k)
        with np.errstate(divide="ignore"):
            steps = np.round(k / np.where(valid, z, 1.0))
        z = np.where(valid & (steps > 0), k / np.maximum(steps, 1.0), z)
    field = correlated_field(shape, cfg.coarse_cells, _uniform(rng, cfg.coarse_sigma), rng)
    field += correlated_field(shape, cfg.fine_cells, _uniform(rng, cfg.fine_sigma), rng)
    field += rng.standard_normal(shape).astype(np.float32) * _uniform(rng, cfg.pixel_sigma)
    z = z * (1.0 + rng.normal(0.0, cfg.scale_sigma)) + field * z * z

    lost = ~valid
    width = int(rng.integers(cfg.edge_width[0], cfg.edge_width[1] + 1))
    lost |= discontinuities(np.where(valid, depth, 0.0), cfg.edge_threshold, width) & (
        rng.random(shape) < cfg.edge_dropout
    )
    lost |= dropout_blobs(shape, int(rng.integers(cfg.blob_count[0], cfg.blob_count[1] + 1)), cfg.blob_radius, rng)
    if masks is not None and cfg.dark_object_probability > 0:
        for mask in masks:
            if rng.random() < cfg.dark_object_probability:
                lost |= mask & (rng.random(shape) < _uniform(rng, cfg.dark_object_dropout))
    lost |= rng.random(shape) < cfg.random_dropout
    out = np.where(lost | (z <= 0), 0.0, z).astype(np.float32)
    return out
