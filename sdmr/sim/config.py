"""The generator's configuration: dataclasses with the paper's defaults, read from YAML safely.

Presets bundle a camera distribution with the scene mix it was meant for: ``paper`` (the
ICRA 2019 bin setup), ``sim2real`` (wider views, bins and tabletops; FINDINGS.md), the
default for the shipped model, and ``sim2real_clutter`` (the sim2real camera and scene mix
with heaps that defeat point-cloud clustering: pushed together, stacked, boxes in touching
rows, thin and flat objects; see sdmr/sim/scene.py).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from sdmr.data.errors import DataError
from sdmr.sim.camera import PRESETS, CameraConfig, camera_preset
from sdmr.sim.noise import NoiseConfig
from sdmr.sim.scene import SceneConfig, check_layout_weights

PRESET_SCENE = {"paper": "bin", "sim2real": "mix", "sim2real_clutter": "mix"}
CLUTTER_LAYOUTS = {"drop": 0.4, "pushed": 0.3, "stack": 0.15, "row": 0.15}
# What a preset sets beyond its camera and scene kind (applied before the user's keys).
PRESET_VALUES: dict[str, dict] = {
    "sim2real_clutter": {
        "scene": {"layout_weights": dict(CLUTTER_LAYOUTS)},
        "objects": {"thin_fraction": 0.15},
    },
}
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "conf" / "generate" / "default.yaml"


@dataclass
class ObjectsConfig:
    source: str = "procedural"  # "procedural" | "pybullet_data" | a folder of meshes
    num_procedural: int = 200
    thin_fraction: float = 0.0  # share of procedural objects that are thin/flat (plates, books)
    test_fraction: float = 0.2  # share of objects held out for test heaps
    decomposition: str = "auto"  # "auto" | "coacd" | "vhacd" | "hull"
    cache_dir: str | None = None  # convex decompositions; default <output>/.sdmr_cache


@dataclass
class RenderConfig:
    backend: str = "auto"  # "auto" | "pyrender" | "tiny"
    amodal: bool = True
    color: bool = False
    bin_mask: bool = False  # write segmasks_filled/: pixels of the support (bin, table, floor)
    min_visible_pixels: int = 20  # objects with fewer visible pixels are not labelled
    png_encoding: str = "wisdom8"
    numpy_depth: bool = True


@dataclass
class GenerateConfig:
    seed: int = 0
    num_images: int = 1000
    views_per_heap: int = 5
    test_fraction: float = 0.2  # share of heaps (and so images) built from test objects only
    preset: str = "sim2real"
    camera: CameraConfig = field(default_factory=lambda: camera_preset("sim2real"))
    scene: SceneConfig = field(default_factory=lambda: SceneConfig(kind=PRESET_SCENE["sim2real"]))
    objects: ObjectsConfig = field(default_factory=ObjectsConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _apply(target, values: dict, where: str, source: Path | None):
    """Overwrite dataclass fields from a dict, rejecting unknown keys (typos must not pass silently)."""
    names = {f.name: f for f in dataclasses.fields(target)}
    if not isinstance(values, dict):
        name = where.rstrip(".") or "the config"
        raise DataError(
            f"'{name}' must be a mapping, got {type(values).__name__}",
            source,
            f"write '{name}' as 'key: value' lines; valid keys: {', '.join(sorted(names))}",
        )
    for key, value in values.items():
        if key not in names:
            raise DataError(
                f"unknown setting '{where}{key}'", source, f"valid keys here: {', '.join(sorted(names))}"
            )
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            _apply(current, value, f"{where}{key}.", source)
        else:
            if isinstance(current, tuple):
                value = tuple(value)
            setattr(target, key, value)
    return target


def build_config(values: dict | None = None, source: Path | None = None) -> GenerateConfig:
    """A config from a nested dict; ``preset`` picks camera and scene defaults before the overrides."""
    values = dict(values or {})
    preset = values.pop("preset", "sim2real")
    if preset not in PRESETS:
        raise DataError(f"unknown preset '{preset}'", source, f"use one of {sorted(PRESETS)}")
    cfg = GenerateConfig(
        preset=preset,
        camera=camera_preset(preset),
        scene=SceneConfig(kind=PRESET_SCENE.get(preset, "mix")),
    )
    cfg = _apply(cfg, copy.deepcopy(PRESET_VALUES.get(preset, {})), "", None)
    return _check_scene(_check_counts(_apply(cfg, values, "", source), source), source)


def _check_scene(cfg: GenerateConfig, source: Path | None) -> GenerateConfig:
    """Layout weights, row sizes and thin-object settings a run cannot use, named before any work."""
    check_layout_weights(cfg.scene.layout_weights, source)
    low, high = cfg.scene.row_size_range
    if not (isinstance(low, int) and isinstance(high, int) and 2 <= low <= high):
        raise DataError(
            f"'scene.row_size_range' must be two integers 2 ≤ low ≤ high, got {cfg.scene.row_size_range!r}",
            source,
            "set scene.row_size_range: [2, 4]",
        )
    low, high = cfg.scene.thin_height_range
    if not 0 < low <= high:
        raise DataError(
            f"'scene.thin_height_range' must be 0 < low ≤ high (m), got {cfg.scene.thin_height_range!r}",
            source,
            "set scene.thin_height_range: [0.01, 0.03]",
        )
    fraction = cfg.objects.thin_fraction
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
        raise DataError(
            f"'objects.thin_fraction' must be a number in [0, 1], got {fraction!r}",
            source,
            "set objects.thin_fraction: 0.15 (or 0 for the paper's shapes only)",
        )
    return cfg


def _check_counts(cfg: GenerateConfig, source: Path | None) -> GenerateConfig:
    """Image counts and split fractions a run cannot use: caught here, naming the config file,
    instead of a ZeroDivisionError (views_per_heap: 0) or an error inside a worker."""
    for key, value, low in (
        ("num_images", cfg.num_images, 1),
        ("views_per_heap", cfg.views_per_heap, 1),
        ("seed", cfg.seed, 0),
        ("camera.height", cfg.camera.height, 1),
        ("camera.width", cfg.camera.width, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise DataError(
                f"'{key}' must be an integer ≥ {low}, got {value!r}",
                source,
                f"set {key}: {low} or more",
            )
    for key, value, interval, inside in (
        ("test_fraction", cfg.test_fraction, "[0, 1]", lambda f: 0.0 <= f <= 1.0),
        ("objects.test_fraction", cfg.objects.test_fraction, "[0, 1)", lambda f: 0.0 <= f < 1.0),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not inside(value):
            raise DataError(
                f"'{key}' must be a number in {interval}, got {value!r}",
                source,
                f"set {key}: 0.2 (the paper's split)",
            )
    return cfg


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> GenerateConfig:
    """Read YAML (``yaml.safe_load``: data only, nothing evaluated) and apply ``overrides`` on top."""
    import yaml

    path = Path(path) if path is not None else DEFAULT_CONFIG
    values: dict = {}
    if path.is_file():
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise DataError(f"not valid YAML ({err})", path, "fix the syntax") from err
        if not isinstance(values, dict):
            raise DataError(
                f"the config must be a mapping, got {type(values).__name__}",
                path,
                "write it as 'key: value' lines, like conf/generate/default.yaml",
            )
    elif path != DEFAULT_CONFIG:
        raise DataError("config file not found", path, "pass an existing YAML file to --config")
    merged = _merge(values, overrides or {})
    return build_config(merged, path)


def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
