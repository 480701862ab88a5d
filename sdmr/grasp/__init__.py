"""Simulated instance-specific grasping (the paper's §VI experiment), repeatable in pybullet: ``sdmr-grasp``.

A heap from the generator's scene code, a named target, a Method's masks (through ``predict``, as
``sdmr-bench`` calls it), the target's mask picked by colour, a suction grasp planned on it and
executed in pybullet; success = the target and only the target came up. Layers, bottom up:
`config` → `world` (trial k from (seed, k)) → `identify`, `suction`, `execute` → `outcomes` →
`attempt` (one method, one trial) → `runner` (the resumable, parallel run) → `report`, `cli`.
"""

from sdmr.grasp.config import GraspConfig, SuctionParams
from sdmr.grasp.runner import GraspRun, run_grasping

__all__ = ["GraspConfig", "GraspRun", "SuctionParams", "run_grasping"]
