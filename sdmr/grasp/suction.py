"""A suction grasp on one mask: a flat, central point of its surface that the arm reaches from above.

The paper ran Dex-Net 3.0's learnt suction policy. This is the analytic rule that policy learns
to approximate: back-project the mask's depth (``sdmr.pointcloud``), estimate each point's
normal and curvature as PCL does, keep the points at least a cup radius inside the mask's outline
whose normal is within ``max_approach_deg`` of vertical and whose patch is flat (low curvature),
and take the best of flat, near the mask's centre and upright. Only the depth image, the mask, and the
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
    points = back_project(depth, intrinsics)[valid]
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
    centre = world.mean(axis=0)
    spread = float(np.sqrt(((world - centre) ** 2).sum(axis=1).mean())) + 1e-9
    offset = np.linalg.norm(world[candidates] - centre, axis=1) / spread
    score = -(bend / params.max_curvature) - params.centre_weight * offset - tilt / params.max_approach_deg
    score[~ok] = -np.inf
    best = candidates[int(np.argmax(score))]
    row, col = divmod(int(pixels[best]), depth.shape[1])
    return SuctionGrasp(world[best], world_normals[best], (row, col), float(score.max())), "ok"
