"""The settings of a grasping run: plain dataclasses with the defaults the README's table used.

Scenes are the generator's heaps (`sdmr.sim.scene.SceneConfig`) made graspable: 5–8 objects,
light (400 kg/m³, household objects rather than the generator's solid 4000 kg/m³) and at most
15 cm, in a bin (``scene="bin"``) or on a table (``"table"``). The camera is the paper's
overhead one (0.7–0.9 m, ≤ 10° from vertical) at 320×240, the size the bundled model was trained
at, with the generator's sensor noise on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sdmr.errors import ConfigError
from sdmr.sim.noise import NoiseConfig
from sdmr.sim.scene import SceneConfig

SCENES = ("bin", "table")


@dataclass
class SuctionParams:
    """A single suction cup, its seal and its lift (see :mod:`sdmr.grasp.suction`)."""

    cup_radius: float = 0.01  # m: the seal ring; the patch inside it must be flat and on the mask
    max_approach_deg: float = 50.0  # the arm comes from above: surface normal within this of vertical
    max_curvature: float = 0.06  # PCL curvature λ0/Σλ of the cup patch; larger is an edge or a corner
    boundary_px: int = 2  # and at least this many pixels from the outline (its pixels are least sure)
    centre_weight: float = 1.0  # how much a point near the mask's centre is preferred to a flat one
    normal_neighbours: int = 40  # points per normal (PCL NormalEstimation k)
    max_candidates: int = 400  # surface points scored per mask (evenly subsampled)
    seal_tolerance: float = 0.004  # m: each ring ray must meet the surface this close to the cup plane
    seal_rays: int = 8
    force: float = 20.0  # N the vacuum holds (≈ 64 kPa on a 10 mm-radius cup)
    lift_height: float = 0.2  # m straight up
    lift_steps: int = 120  # physics steps of the lift (0.5 s), then ``hold_steps`` at the top
    hold_steps: int = 60


@dataclass
class GraspConfig:
    """One run: which heaps (``seed``, trial k → heap k), which camera, how targets are told apart."""

    seed: int = 0
    trials: int = 50
    scene: str = "bin"
    min_objects: int = 5
    max_objects: int = 8
    num_procedural: int = 200  # the procedural object library (sdmr.sim.objects)
    width: int = 320
    height: int = 240
    noise: bool = True
    target_views: int = 10  # colour views of the target alone that identify it (the paper: 10)
    min_target_pixels: int = 150  # a target must be this visible in the trial's image
    min_match: float = 0.15  # a best mask scoring less than this against the target's views is no target
    suction: SuctionParams = field(default_factory=SuctionParams)

    def scene_config(self) -> SceneConfig:
        return SceneConfig(kind=self.scene, min_objects=self.min_objects, max_objects=self.max_objects,
                           poisson_lambda=(self.min_objects + self.max_objects) / 2, density=400.0,
                           object_size_range=(0.05, 0.15), wall_probability=0.0)

    def noise_config(self) -> NoiseConfig:
        return NoiseConfig(enabled=self.noise)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_config(cfg: GraspConfig) -> GraspConfig:
    """Refuse settings that cannot work, naming the CLI option, before any scene is built."""
    for option, value, low in (("--trials", cfg.trials, 1), ("--seed", cfg.seed, 0),
                               ("--min-objects", cfg.min_objects, 1), ("--width", cfg.width, 32),
                               ("--height", cfg.height, 32), ("--target-views", cfg.target_views, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{option} must be an integer >= {low}, got {value!r}", fix=f"pass {option} {low} or more")
    if cfg.max_objects < cfg.min_objects:
        raise ConfigError(f"--max-objects {cfg.max_objects} is below --min-objects {cfg.min_objects}",
                          fix="pass --max-objects at least --min-objects (e.g. 5 and 8)")
    if cfg.num_procedural < cfg.max_objects:
        raise ConfigError(f"the object library ({cfg.num_procedural}) is smaller than a heap ({cfg.max_objects})",
                          fix="raise num_procedural or lower --max-objects")
    if not 0 <= cfg.min_match < 1:
        raise ConfigError(f"min_match must be in [0, 1), got {cfg.min_match!r}", fix="keep the default 0.15")
    if cfg.scene not in SCENES:
        raise ConfigError(f"unknown --scene {cfg.scene!r}", fix=f"use one of {', '.join(SCENES)}")
    s = cfg.suction
    if not (s.cup_radius > 0 and s.force > 0 and s.lift_height > 0 and 0 < s.max_approach_deg <= 90):
        raise ConfigError("suction settings cannot work (cup radius, force and lift must be > 0, approach in (0, 90]°)",
                          fix="keep the SuctionParams defaults or positive values")
    return cfg
