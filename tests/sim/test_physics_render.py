"""Real pybullet heaps and real pyrender renders, checked against geometry we can compute."""

from __future__ import annotations

import numpy as np
import pytest

from sdmr.data.intrinsics import CameraIntrinsics
from sdmr.sim.camera import CameraView, camera_preset, look_at, sample_view
from sdmr.sim.noise import NoiseConfig, add_sensor_noise
from sdmr.sim.objects import ObjectLibrary
from sdmr.sim.render import PyrenderRenderer, make_renderer
from sdmr.sim.scene import Box, Heap, HeapSimulator, SceneConfig
from sdmr.sim.tiny_render import TinyRenderer


@pytest.fixture(scope="module", params=["pyrender", "tiny"])
def renderer(request):
    r = make_renderer(128, 96, request.param)
    assert r.name == request.param
    yield r
    r.close()


@pytest.fixture(scope="module")
def bin_heap() -> Heap:
    lib = ObjectLibrary.from_source("procedural", seed=1, num_procedural=10)
    meshes = [lib.load(s) for s in lib.specs[:4]]
    with HeapSimulator(SceneConfig(kind="bin")) as sim:
        return sim.simulate(meshes, np.random.default_rng(5), "bin")


def test_heap_settles_inside_the_workspace() -> None:
    lib = ObjectLibrary.from_source("procedural", seed=2, num_procedural=10)
    meshes = [lib.load(s) for s in lib.specs[:4]]
    cfg = SceneConfig(kind="bin")
    with HeapSimulator(cfg) as sim:
        heap = sim.simulate(meshes, np.random.default_rng(0), "bin")
        assert heap.dropped == 4 and len(heap.objects) >= 2
        lower, upper = heap.workspace
        for obj in heap.objects:
            assert np.all(obj.pose[:3, 3] >= lower) and np.all(obj.pose[:3, 3] <= upper)
        # at rest: another 0.25 s of simulation barely moves anything
        p = sim.p
        bodies = [
            b
            for b in range(p.getNumBodies(physicsClientId=sim.client))
            if p.getBodyInfo(b, physicsClientId=sim.client)
        ]
        before = [np.array(p.getBasePositionAndOrientation(b, physicsClientId=sim.client)[0]) for b in bodies]
        for _ in range(60):
            p.stepSimulation(physicsClientId=sim.client)
        after = [np.array(p.getBasePositionAndOrientation(b, physicsClientId=sim.client)[0]) for b in bodies]
        assert max(np.linalg.norm(a - b) for a, b in zip(after, before, strict=True)) < 0.005


def test_objects_that_leave_the_table_are_dropped() -> None:
    lib = ObjectLibrary.from_source("procedural", seed=2, num_procedural=10)
    meshes = [lib.load(s) for s in lib.specs[:3]]
    cfg = SceneConfig(kind="table", table_size_range=(0.12, 0.12), drop_jitter=0.1)  # a tiny table
    with HeapSimulator(cfg) as sim:
        heap = sim.simulate(meshes, np.random.default_rng(1), "table")
    lower, upper = heap.workspace
    assert len(heap.objects) < heap.dropped  # something fell off...
    for obj in heap.objects:  # ...and only objects on the table were kept
        assert np.all(obj.pose[:3, 3] >= lower) and np.all(obj.pose[:3, 3] <= upper)


@pytest.mark.parametrize("elevation_deg", [0.0, 35.0])
def test_rendered_depth_of_a_plane_is_analytic(renderer: PyrenderRenderer, elevation_deg: float) -> None:
    heap = Heap("table", [Box((0.0, 0.0, -0.02), (5.0, 5.0, 0.02), "table")], [], (np.zeros(3), np.ones(3)))
    renderer.set_heap(heap)
    intr = CameraIntrinsics(101.0, 101.0, 63.2, 47.7, 128, 96)
    e = np.deg2rad(elevation_deg)
    eye = np.array([0.9 * np.sin(e), 0.1, 0.9 * np.cos(e)])
    view = CameraView(intr, look_at(eye, np.array([0.0, 0.1, 0.0]), roll_rad=0.2))
    depth = renderer.render(view, amodal=False).depth
    v, u = np.mgrid[0:96, 0:128]
    rays_cam = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u, float)], -1)
    rays_world = rays_cam @ view.world_from_camera[:3, :3].T
    analytic = -eye[2] / rays_world[..., 2]  # z-depth: the ray has unit camera-z
    assert np.all(depth > 0)
    np.testing.assert_allclose(depth, analytic, atol=1e-4)


def test_modal_masks_are_disjoint_visible_parts_of_amodal(renderer: PyrenderRenderer, bin_heap: Heap) -> None:
    renderer.set_heap(bin_heap)
    n = len(bin_heap.objects)
    cfg = camera_preset("paper", width=128, height=96)
    rng = np.random.default_rng(4)
    occluded = 0
    for _ in range(6):
        view = sample_view(cfg, rng, np.zeros(3))
        out = renderer.render(view)
        assert out.amodal is not None and out.amodal.shape == (n, 96, 128)
        modal = out.labels[None] == np.arange(1, n + 1)[:, None, None]
        assert modal.sum() > 0
        assert not np.any(modal & ~out.amodal)  # modal ⊆ amodal
        assert np.all(modal.sum(axis=0) <= 1)  # disjoint
        occluded += int((out.amodal.sum(axis=(1, 2)) - modal.sum(axis=(1, 2))).sum())
        background = renderer.render_background(view)
        in_front = (background == 0) & (out.depth > 0) | (out.depth < background - 1e-4)
        union = modal.any(axis=0)
        assert np.array_equal(union & in_front, in_front)  # everything in front of the support is labelled
        assert np.all(out.depth[union] <= background[union] + 1e-5)  # labels never lie behind the support
        # labelled pixels are in front of the support, except contact rims within a millimetre
        behind = union & (background > 0) & (out.depth > background - 1e-3)
        assert behind.sum() < 0.05 * union.sum()
    assert occluded > 0  # the heap hides parts of objects, so modal ≠ amodal was really exercised


def test_sensor_noise_grows_with_distance_squared_and_drops_edges() -> None:
    rng = np.random.default_rng(0)
    depth = np.full((200, 200), 1.0, np.float32)
    depth[:, 100:] = 2.0
    cfg = NoiseConfig(enabled=True, random_dropout=0.0)
    noisy = add_sensor_noise(depth, cfg, rng)
    near, far = noisy[:, :90], noisy[:, 110:]
    assert abs(near[near > 0].std() - 0.0015) < 0.0002
    assert abs(far[far > 0].std() - 0.0060) < 0.0006
    edge = noisy[:, 99:101]
    assert 0.3 < (edge == 0).mean() < 0.7  # half the discontinuity pixels lost
    assert (noisy[:, :90] == 0).mean() == 0.0


def test_tiny_renderer_matches_pyrender_pixel_for_pixel(bin_heap: Heap) -> None:
    gl, tiny = PyrenderRenderer(128, 96), TinyRenderer(128, 96)
    try:
        gl.set_heap(bin_heap)
        tiny.set_heap(bin_heap)
        view = sample_view(
            camera_preset("sim2real", width=128, height=96), np.random.default_rng(9), np.zeros(3)
        )
        a, b = gl.render(view), tiny.render(view)
    finally:
        gl.close()
        tiny.close()
    both = (a.depth > 0) & (b.depth > 0)
    assert both.mean() > 0.5 and np.abs(a.depth - b.depth)[both].max() < 1e-4
    assert (a.labels == b.labels).mean() > 0.999
    assert a.amodal is not None and b.amodal is not None
    assert (a.amodal != b.amodal).mean() < 1e-3


def test_tiled_amodal_masks_equal_full_frame_renders(bin_heap: Heap) -> None:
    r = PyrenderRenderer(256, 192)
    try:
        r.set_heap(bin_heap)
        rng = np.random.default_rng(2)
        cfg = camera_preset("sim2real", width=256, height=192)
        differ = total = outside = 0
        for _ in range(4):
            view = sample_view(cfg, rng, np.zeros(3))
            r._set_camera(view)
            tiled, full = r._amodal(view, tiled=True), r._amodal(view, tiled=False)
            differ += int((tiled != full).sum())
            total += int(full.sum())
            labels = r.render(view, amodal=False).labels  # raw renders: modal ⊆ amodal up to edge pixels
            outside += int(sum((labels == k + 1)[~tiled[k]].sum() for k in range(len(tiled))))
    finally:
        r.close()
    assert total > 1000 and differ <= total * 1e-4 and outside <= total * 1e-4
