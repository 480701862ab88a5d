"""A suction grasp on one mask: a flat, central point of its surface that the arm reaches from above.

The paper ran Dex-Net 3.0's learnt suction policy. This is the analytic rule that policy learns
to approximate: back-project the mask's depth (``sdmr.pointcloud``), estimate each point's
normal and curvature as PCL does, keep the points at least a cup radius inside the mask's outline
whose normal is within ``max_approach_deg`` of vertical, whose patch is flat (low curvature) and
where the cup's rim would seal on the observed surface (`rim_seals`, Dex-Net 3.0's seal
condition), and take the best of flat, near the mask's centre and upright. Only the depth image, the mask, and the
camera's calibration (intrinsics and pose, which a robot knows) are used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from sdmr.data.depth_io import valid_mask
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.grasp.config import SuctionParams
from sdmr.pointcloud.camera import back_project
from sdmr.pointcloud.normals import estimate_normals

SEAL_MARGIN = 0.75  # the plan asks for 3/4 of the seal tolerance: the observed cloud is noisy by ~1 mm


@dataclass(frozen=True)
class SuctionGrasp:
    """Where the cup goes (world frame, metres), the surface normal there (out of the object) and its pixel."""

    point: np.ndarray
    normal: np.ndarray
    pixel: tuple[int, int]  # (row, column) in the trial's image
    score: float

    def as_record(self) -> dict:
        return {"point": [round(float(x), 6) for x in self.point],
                "normal": [round(float(x), 6) for x in self.normal],
                "pixel": list(self.pixel), "score": round(self.score, 6)}


def rim_seals(points: np.ndarray, normals: np.ndarray, xyz: np.ndarray, valid: np.ndarray,
              intrinsics: CameraIntrinsics, params: SuctionParams) -> np.ndarray:
    """Dex-Net 3.0's seal condition on the observed cloud, per candidate (camera frame): each of
    ``seal_rays`` points of the cup's rim, in the plane through the point normal to its normal,
    projects onto a pixel of the mask whose depth lies within ``SEAL_MARGIN × seal_tolerance`` of that plane."""
    normals = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    helper = np.where(np.abs(normals[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    u = np.cross(normals, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(normals, u)
    angles = np.linspace(0, 2 * np.pi, params.seal_rays, endpoint=False)
    rim = points[:, None] + params.cup_radius * (np.cos(angles)[None, :, None] * u[:, None]
                                                 + np.sin(angles)[None, :, None] * v[:, None])  # N×R×3
    z = np.maximum(rim[..., 2], 1e-6)
    col = np.round(intrinsics.fx * rim[..., 0] / z + intrinsics.cx).astype(int)
    row = np.round(intrinsics.fy * rim[..., 1] / z + intrinsics.cy).astype(int)
    h, w = valid.shape
    inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
    row, col = np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)
    offset = np.einsum("nrk,nk->nr", xyz[row, col] - points[:, None], normals)
    return np.all(inside & valid[row, col] & (np.abs(offset) <= SEAL_MARGIN * params.seal_tolerance), axis=1)


def plan_suction(depth: np.ndarray, mask: np.ndarray, intrinsics: CameraIntrinsics,
                 world_from_camera: np.ndarray, params: SuctionParams) -> tuple[SuctionGrasp | None, str]:
    """The best suction grasp on ``mask``, or None and the reason none was found."""
    valid = np.asarray(mask, dtype=bool) & valid_mask(depth)
    if np.count_nonzero(valid) < params.normal_neighbours:
        return None, f"the mask has {np.count_nonzero(valid)} valid depth pixels (< {params.normal_neighbours})"
    # the cup must fit: distance to the mask's outline (pixels × metres per pixel at that depth) ≥ its radius
    room = ndimage.distance_transform_edt(valid) * depth / intrinsics.fx
    inner = valid & (room >= params.cup_radius) & (ndimage.distance_transform_edt(valid) > params.boundary_px)
    if not inner.any():
        return None, f"no patch of the mask is wide enough for the {params.cup_radius * 1000:.0f} mm cup"
    xyz = back_project(depth, intrinsics)
    points = xyz[valid]
    normals, curvature = estimate_normals(points, params.normal_neighbours)
    rotation, origin = world_from_camera[:3, :3], world_from_camera[:3, 3]
    world, world_normals = points @ rotation.T + origin, normals @ rotation.T
    pixels = np.flatnonzero(valid)
    candidates = np.flatnonzero(inner.ravel()[pixels])
    if len(candidates) > params.max_candidates:
        candidates = candidates[np.linspace(0, len(candidates) - 1, params.max_candidates).round().astype(int)]
    tilt = np.degrees(np.arccos(np.clip(world_normals[candidates, 2], -1.0, 1.0)))
    bend = curvature[candidates]
    ok = np.isfinite(bend) & (tilt <= params.max_approach_deg) & (bend <= params.max_curvature)
    if not ok.any():
        return None, (f"no flat patch reachable from above: of {len(candidates)} surface points none has curvature "
                      f"<= {params.max_curvature} with a normal within {params.max_approach_deg} deg of vertical")
    ok &= rim_seals(points[candidates], normals[candidates], xyz, valid, intrinsics, params)
    if not ok.any():
        return None, "no point of the mask where the cup's rim would lie on the observed surface (no seal)"
    centre = world.mean(axis=0)
    spread = float(np.sqrt(((world - centre) ** 2).sum(axis=1).mean())) + 1e-9
    offset = np.linalg.norm(world[candidates] - centre, axis=1) / spread
    score = -(bend / params.max_curvature) - params.centre_weight * offset - tilt / params.max_approach_deg
    score[~ok] = -np.inf
    best = candidates[int(np.argmax(score))]
    row, col = divmod(int(pixels[best]), depth.shape[1])
    return SuctionGrasp(world[best], world_normals[best], (row, col), float(score.max())), "ok"
