"""Clutter layouts (pushed, stack, row) and thin objects: real pybullet heaps, checked with geometry
computed here from the settled poses and with rendered masks, not with the simulator's own record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sdmr.data.errors import DataError
from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.data.layout import META_DIR
from sdmr.sim.camera import CameraView, look_at
from sdmr.sim.config import CLUTTER_LAYOUTS, build_config, load_config
from sdmr.sim.generate import generate
from sdmr.sim.objects import THIN_KINDS, MeshObject, ObjectLibrary, procedural_kind
from sdmr.sim.render import make_renderer
from sdmr.sim.scene import LAYOUTS, Heap, HeapSimulator, PlacedObject, SceneConfig

SEEDS = range(6)


@pytest.fixture(scope="module")
def meshes() -> list[MeshObject]:
    lib = ObjectLibrary.from_source("procedural", seed=4, num_procedural=30)
    return [lib.load(spec) for spec in lib.specs]


def _pick(meshes: list[MeshObject], seed: int, count: int) -> list[MeshObject]:
    rng = np.random.default_rng([seed, 99])
    return [meshes[i] for i in rng.choice(len(meshes), size=count, replace=False)]


def _world_vertices(obj: PlacedObject) -> np.ndarray:
    return (obj.mesh.vertices * obj.scale) @ obj.pose[:3, :3].T + obj.pose[:3, 3]


def _adjacent_label_pairs(labels: np.ndarray) -> set[tuple[int, int]]:
    """Pairs of objects whose visible pixels are 4-neighbours: one segment to a clustering."""
    pairs: set[tuple[int, int]] = set()
    for a, b in ((labels[:, 1:], labels[:, :-1]), (labels[1:], labels[:-1])):
        edge = (a != b) & (a > 0) & (b > 0)
        pairs |= {(int(min(x, y)), int(max(x, y))) for x, y in zip(a[edge], b[edge], strict=True)}
    return pairs


def _top_view() -> CameraView:
    intrinsics = CameraIntrinsics(110.0, 110.0, 63.5, 47.5, 128, 96)
    return CameraView(intrinsics, look_at(np.array([0.0, 0.0, 0.8]), np.zeros(3)))


def test_every_layout_settles_a_heap_and_records_its_layout(meshes) -> None:
    boxes = [m for m in meshes if m.is_box_like]
    assert len(boxes) >= 3  # procedural boxes qualify by their geometry
    with HeapSimulator(SceneConfig()) as sim:
        for layout in LAYOUTS:
            for kind in ("bin", "table"):
                row = boxes[:3] if layout == "row" else []
                heap = sim.simulate(
                    row + _pick(meshes, 0, 3), np.random.default_rng(1), kind, layout, len(row)
                )
                assert heap.meta["layout"] == layout and len(heap.objects) >= 3, (layout, kind)
                lower, upper = heap.workspace
                for obj in heap.objects:
                    assert np.all(obj.pose[:3, 3] >= lower) and np.all(obj.pose[:3, 3] <= upper)


def test_pushed_heaps_touch_more_than_dropped_ones(meshes) -> None:
    renderer = make_renderer(128, 96, "auto")
    touching = {"drop": 0, "pushed": 0}
    rendered = {"drop": 0, "pushed": 0}
    try:
        with HeapSimulator(SceneConfig()) as sim:
            for seed in SEEDS:
                for layout in touching:
                    heap = sim.simulate(_pick(meshes, seed, 4), np.random.default_rng(seed), "table", layout)
                    touching[layout] += len(heap.meta["touching"])
                    renderer.set_heap(heap)
                    labels = renderer.render(_top_view(), amodal=False).labels
                    rendered[layout] += len(_adjacent_label_pairs(labels))
    finally:
        renderer.close()
    assert touching["pushed"] > 1.3 * touching["drop"], touching
    assert rendered["pushed"] > rendered["drop"], rendered


def _rests_on_another(heap: Heap, k: int) -> bool:
    """Object k's lowest point is above the support and its centre is over another object."""
    obj = heap.objects[k]
    if obj.lowest_z() < 0.005:
        return False
    centre = obj.pose[:2, 3]
    for j, other in enumerate(heap.objects):
        v = _world_vertices(other)
        over = np.all(centre >= v[:, :2].min(0)) and np.all(centre <= v[:, :2].max(0))
        if j != k and over and other.lowest_z() < obj.lowest_z() - 0.005:
            return True
    return False


def test_stack_puts_objects_on_top_of_others(meshes) -> None:
    stacked = {"drop": 0, "stack": 0}
    with HeapSimulator(SceneConfig()) as sim:
        for seed in SEEDS:
            for layout in stacked:
                heap = sim.simulate(_pick(meshes, seed, 4), np.random.default_rng(seed), "table", layout)
                found = [k for k in range(len(heap.objects)) if _rests_on_another(heap, k)]
                stacked[layout] += bool(found)
                assert set(found) <= set(heap.meta["stacked"])
    assert stacked["stack"] >= 3 and stacked["stack"] > stacked["drop"], stacked


def test_row_boxes_stand_aligned_and_touching(meshes) -> None:
    boxes = [m for m in meshes if m.is_box_like]
    with HeapSimulator(SceneConfig()) as sim:
        for seed, kind in ((0, "table"), (1, "bin"), (2, "table")):
            row = boxes[seed : seed + 3]
            heap = sim.simulate(row, np.random.default_rng(seed), kind, "row", row_count=3)
            assert [o.mesh for o in heap.objects] == row
            axis = heap.objects[0].pose[:3, 0]  # the row runs along the boxes' shared x axis
            assert all(abs(o.pose[:3, 0] @ axis) > 0.999 for o in heap.objects)
            spans = sorted((_world_vertices(o) @ axis).min() for o in heap.objects)
            ends = sorted((_world_vertices(o) @ axis).max() for o in heap.objects)
            gaps = np.array(spans[1:]) - np.array(ends[:-1])
            assert np.all(gaps < 0.004) and np.all(gaps > -0.002), gaps  # touching, not overlapping
            assert sorted(map(tuple, heap.meta["touching"])) == [(0, 1), (1, 2)]


def test_thin_objects_have_the_configured_height() -> None:
    lib = ObjectLibrary.from_source("procedural", seed=1, num_procedural=20, thin_fraction=0.25)
    thin = [lib.load(s) for s in lib.specs if procedural_kind(s) in THIN_KINDS]
    assert len(thin) == 5 and {procedural_kind(m.spec) for m in thin} == set(THIN_KINDS)
    cfg = SceneConfig(thin_height_range=(0.012, 0.025), drop_jitter=0.0)
    with HeapSimulator(cfg) as sim:
        for seed, mesh in enumerate(thin):  # alone on the table
            obj = sim.simulate([mesh], np.random.default_rng(seed), "table").objects[0]
            world = _world_vertices(obj)
            width, depth, thickness = np.ptp(world @ obj.pose[:3, :3], axis=0)  # in the shape's axes
            assert 0.012 - 1e-6 <= thickness <= 0.025 + 1e-6, (mesh.spec.name, thickness)
            assert 4 * thickness - 1e-6 <= max(width, depth) <= 0.2 + 1e-6  # flat, not a cube
            height = np.ptp(world[:, 2])  # what a camera sees: it lies flat, not on its edge
            assert 0.012 - 0.003 <= height <= 0.025 + 0.001, (mesh.spec.name, height)


def test_thin_fraction_zero_keeps_the_original_library() -> None:
    names = [s.name for s in ObjectLibrary.from_source("procedural", num_procedural=10).specs]
    assert names[:6] == [
        "proc_0000_box",
        "proc_0001_cylinder",
        "proc_0002_superquadric",
        "proc_0003_convex_blob",
        "proc_0004_nonconvex_blob",
        "proc_0005_box",
    ]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts_are_reproducible_from_the_seed(meshes, layout: str) -> None:
    boxes = [m for m in meshes if m.is_box_like][:2]
    row = boxes if layout == "row" else []
    poses = []
    with HeapSimulator(SceneConfig()) as sim:
        for _ in range(2):
            heap = sim.simulate(row + _pick(meshes, 3, 3), np.random.default_rng(7), "bin", layout, len(row))
            poses.append(np.stack([o.pose for o in heap.objects]))
        other = sim.simulate(row + _pick(meshes, 3, 3), np.random.default_rng(8), "bin", layout, len(row))
    np.testing.assert_array_equal(poses[0], poses[1])
    assert not np.array_equal(poses[0][: len(other.objects)], np.stack([o.pose for o in other.objects]))


def test_clutter_preset_records_layouts_per_image(tmp_path: Path, tiny_values) -> None:
    values = {
        **tiny_values,
        "preset": "sim2real_clutter",
        "num_images": 8,
        "views_per_heap": 1,
        "test_fraction": 0.0,
        "scene": {**tiny_values["scene"], "layout_weights": dict.fromkeys(LAYOUTS, 1.0)},
        "objects": {**tiny_values["objects"], "test_fraction": 0.0},
    }
    cfg = build_config(values)
    sim2real = build_config({**values, "preset": "sim2real"})
    assert cfg.objects.thin_fraction > 0 and cfg.camera == sim2real.camera  # same camera distribution
    for run in ("a", "b"):
        generate(cfg, tmp_path / run, workers=1, progress=False)
    metas = [
        [json.loads(p.read_text())["extra"] for p in sorted((tmp_path / run / META_DIR).glob("*.json"))]
        for run in ("a", "b")
    ]
    assert metas[0] == metas[1]  # the layout draw is reproducible from the seed
    assert {m["layout"] for m in metas[0]} == set(LAYOUTS)
    for m in metas[0]:
        assert m["touching_pairs"] >= 0 and m["stacked_objects"] <= m["objects_in_workspace"]


def test_layout_settings_come_from_the_preset_and_bad_ones_name_the_file(tmp_path: Path) -> None:
    assert build_config({}).scene.layout_weights == {"drop": 1.0}
    assert build_config({}).objects.thin_fraction == 0.0
    clutter = load_config(None, {"preset": "sim2real_clutter"})  # default.yaml must not undo the preset
    assert clutter.scene.layout_weights == CLUTTER_LAYOUTS and clutter.objects.thin_fraction == 0.15
    for text, match in (
        ("scene:\n  layout_weights: {drop: 1, heap: 2}\n", "unknown layouts"),
        ("scene:\n  layout_weights: {drop: 0}\n", "weight 0"),
        ("scene:\n  layout_weights: {stack: -1, drop: 1}\n", "≥ 0"),
        ("scene:\n  row_size_range: [1, 4]\n", "row_size_range"),
        ("objects:\n  thin_fraction: 2\n", "thin_fraction"),
    ):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(DataError, match=match) as err:
            load_config(bad)
        assert "bad.yaml" in str(err.value)
