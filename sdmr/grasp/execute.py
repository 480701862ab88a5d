"""Execute a suction grasp in pybullet and see which bodies came up.

A simple gripper, in three steps, on the trial's heap rebuilt at rest (``HeapSimulator.restore``,
so every method's grasp starts from the same world):

1. approach: the cup travels kinematically along the planned normal onto the grasp point; a ray
   along that line finds the first surface it meets (an object in the way is what it touches);
2. seal: a ring of ``seal_rays`` rays at ``cup_radius`` around the contact must meet the same body
   within ``seal_tolerance`` of the cup's plane (Dex-Net 3.0's seal condition: the rim lies on the
   surface), else the vacuum does not hold;
3. lift: a fixed constraint at the contact, limited to the vacuum's ``force``, rises
   ``lift_height`` straight up and holds; a body counts as lifted when it rose half that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sdmr.grasp.config import SuctionParams
from sdmr.grasp.suction import SuctionGrasp
from sdmr.sim.scene import Heap, HeapSimulator

APPROACH_FROM = 0.15  # m above the grasp point along the normal where the cup starts
APPROACH_PAST = 0.03  # m beyond it, so a point a little in front of the surface still reaches it


@dataclass
class PickResult:
    """What happened: the object the cup touched (index into ``heap.objects``; None = support or
    nothing), whether it sealed, and the objects that came up."""

    contact: int | None
    sealed: bool
    lifted: list[int] = field(default_factory=list)
    detail: str = ""


def _perpendicular_basis(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(normal, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(normal, u)


def _ray(sim: HeapSimulator, start: np.ndarray, end: np.ndarray) -> tuple[int, np.ndarray]:
    body, _, _, position, _ = sim.p.rayTest(start.tolist(), end.tolist(), physicsClientId=sim.client)[0]
    return int(body), np.asarray(position)


def execute_suction(sim: HeapSimulator, heap: Heap, grasp: SuctionGrasp, params: SuctionParams) -> PickResult:
    """Approach, seal and lift (module docstring) on ``heap`` rebuilt in ``sim``'s client."""
    p, c = sim.p, sim.client
    bodies = sim.restore(heap)
    index = {body: k for k, body in enumerate(bodies)}
    normal = np.asarray(grasp.normal, dtype=float) / np.linalg.norm(grasp.normal)
    point = np.asarray(grasp.point, dtype=float)
    body, contact = _ray(sim, point + APPROACH_FROM * normal, point - APPROACH_PAST * normal)
    if body not in index:
        what = "nothing" if body < 0 else "the support"
        return PickResult(None, False, [], f"missed: the cup met {what}, no object")
    u, v = _perpendicular_basis(normal)
    for angle in np.linspace(0, 2 * np.pi, params.seal_rays, endpoint=False):
        rim = contact + params.cup_radius * (np.cos(angle) * u + np.sin(angle) * v)
        hit, where = _ray(sim, rim + 0.05 * normal, rim - 0.05 * normal)
        if hit != body or abs(float((where - contact) @ normal)) > params.seal_tolerance:
            return PickResult(index[body], False, [], "no seal: the cup's rim is off the surface")
    position, orientation = p.getBasePositionAndOrientation(body, physicsClientId=c)
    inverse = p.invertTransform(position, orientation)
    local, _ = p.multiplyTransforms(*inverse, contact.tolist(), [0, 0, 0, 1])
    start_z = {b: p.getBasePositionAndOrientation(b, physicsClientId=c)[0][2] for b in bodies}
    cup = p.createConstraint(body, -1, -1, -1, p.JOINT_FIXED, [0, 0, 0], parentFramePosition=local,
                             childFramePosition=contact.tolist(), childFrameOrientation=orientation,
                             physicsClientId=c)
    for step in range(1, params.lift_steps + params.hold_steps + 1):
        rise = params.lift_height * min(step, params.lift_steps) / params.lift_steps
        p.changeConstraint(cup, (contact + [0.0, 0.0, rise]).tolist(), jointChildFrameOrientation=orientation,
                           maxForce=params.force, physicsClientId=c)
        p.stepSimulation(physicsClientId=c)
    lifted = [index[b] for b in bodies
              if p.getBasePositionAndOrientation(b, physicsClientId=c)[0][2] - start_z[b] > params.lift_height / 2]
    detail = "lifted" if lifted else "dropped: the object did not come up with the cup"
    return PickResult(index[body], True, lifted, detail)
