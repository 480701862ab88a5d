"""Random cameras on a sphere around the heap: the paper's preset and a wider sim-to-real one.

Poses are in the OpenCV convention (x right, y down, z forward) so that the intrinsics written
with every image mean what every other tool expects; the renderer converts to OpenGL itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sdmr.data.errors import DataError
from sdmr.data.intrinsics import CameraIntrinsics

REFERENCE_WIDTH = 512  # focal ranges are given for a 512-pixel-wide image and scale with width


@dataclass
class CameraConfig:
    """Camera distribution; defaults are the paper's (REFERENCE.md)."""

    width: int = 512
    height: int = 384
    focal_range: tuple[float, float] = (535.0, 560.0)  # fx = fy, at REFERENCE_WIDTH
    principal_jitter: float = 2.5  # pixels around the image centre
    distance_range: tuple[float, float] = (0.7, 0.9)  # metres from the aim point
    elevation_deg_range: tuple[float, float] = (0.01, 10.0)  # angle from vertical
    azimuth_deg_range: tuple[float, float] = (0.0, 360.0)
    roll_deg: float = 10.0  # ± around the optical axis
    aim_jitter: float = 0.05  # ± metres in x and y around the heap centre


PRESETS: dict[str, dict] = {
    "paper": {},
    # FINDINGS.md: the range that covered real tabletop frames (OCID: 1.0 m at 31° tilt).
    "sim2real": {"distance_range": (0.6, 1.6), "elevation_deg_range": (0.0, 60.0)},
}
PRESETS["sim2real_clutter"] = PRESETS["sim2real"]  # same cameras; the scenes differ (sim/config.py)


def camera_preset(name: str, **overrides) -> CameraConfig:
    if name not in PRESETS:
        raise DataError(f"unknown camera preset '{name}'", fix=f"use one of {sorted(PRESETS)}")
    return replace(CameraConfig(**PRESETS[name]), **overrides)


@dataclass(frozen=True)
class CameraView:
    intrinsics: CameraIntrinsics
    world_from_camera: np.ndarray  # 4×4, OpenCV axes

    @property
    def position(self) -> np.ndarray:
        return self.world_from_camera[:3, 3]


def look_at(eye: np.ndarray, target: np.ndarray, roll_rad: float = 0.0) -> np.ndarray:
    """World-from-camera pose (OpenCV axes) looking from ``eye`` at ``target``, rolled about z."""
    z = target - eye
    z = z / np.linalg.norm(z)
    up = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.999 else np.array([0.0, 1.0, 0.0])
    x = np.cross(z, up)  # image x points right when world up is "image up"
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    rot = np.stack([x, y, z], axis=1)
    c, s = np.cos(roll_rad), np.sin(roll_rad)
    rot = rot @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    pose = np.eye(4)
    pose[:3, :3] = rot
    pose[:3, 3] = eye
    return pose


def sample_view(cfg: CameraConfig, rng: np.random.Generator, centre: np.ndarray) -> CameraView:
    """One camera: focal length, principal point, spherical position, roll, aim point."""
    f = rng.uniform(*cfg.focal_range) * cfg.width / REFERENCE_WIDTH
    cx = (cfg.width - 1) / 2 + rng.uniform(-cfg.principal_jitter, cfg.principal_jitter)
    cy = (cfg.height - 1) / 2 + rng.uniform(-cfg.principal_jitter, cfg.principal_jitter)
    intrinsics = CameraIntrinsics(f, f, cx, cy, cfg.width, cfg.height)
    distance = rng.uniform(*cfg.distance_range)
    elevation = np.deg2rad(rng.uniform(*cfg.elevation_deg_range))
    azimuth = np.deg2rad(rng.uniform(*cfg.azimuth_deg_range))
    roll = np.deg2rad(rng.uniform(-cfg.roll_deg, cfg.roll_deg))
    target = np.asarray(centre, dtype=float) + np.r_[rng.uniform(-cfg.aim_jitter, cfg.aim_jitter, 2), 0.0]
    eye = target + distance * np.array(
        [np.sin(elevation) * np.cos(azimuth), np.sin(elevation) * np.sin(azimuth), np.cos(elevation)]
    )
    return CameraView(intrinsics, look_at(eye, target, roll))
