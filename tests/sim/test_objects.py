"""Object library: procedural shapes, pybullet_data meshes, user folders with broken files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import trimesh

from sdmr.data.errors import DataError
from sdmr.sim.objects import PROCEDURAL_KINDS, ObjectLibrary, convex_parts, read_obj_groups


def test_every_procedural_kind_is_a_normalised_mesh_with_convex_parts() -> None:
    lib = ObjectLibrary.from_source("procedural", seed=0, num_procedural=len(PROCEDURAL_KINDS))
    for spec in lib.specs:
        obj = lib.load(spec)
        assert obj is not None, spec.name
        assert np.isclose(obj.extents.max(), 1.0)
        assert np.all(np.abs(obj.vertices) <= 0.5 + 1e-9)
        assert all(len(p) >= 4 for p in obj.parts)
    blob = lib.load(next(s for s in lib.specs if s.name.endswith("nonconvex_blob")))
    assert blob is not None and len(blob.parts) >= 2  # non-convex: several convex lobes


def test_procedural_objects_are_reproducible_from_the_seed() -> None:
    a = ObjectLibrary.from_source("procedural", seed=4, num_procedural=5)
    b = ObjectLibrary.from_source("procedural", seed=4, num_procedural=5)
    c = ObjectLibrary.from_source("procedural", seed=5, num_procedural=5)
    spec = a.specs[2]
    assert np.array_equal(a.load(spec).vertices, b.load(spec).vertices)
    assert not np.array_equal(a.load(spec).vertices, c.load(spec).vertices)


def test_split_is_object_disjoint_seeded_and_80_20() -> None:
    lib = ObjectLibrary.from_source("procedural", seed=0, num_procedural=50)
    train, test = lib.split(0.2)
    assert len(test) == 10 and len(train) == 40
    assert not {s.object_id for s in train} & {s.object_id for s in test}
    assert lib.split(0.2) == (train, test)
    other = ObjectLibrary.from_source("procedural", seed=1, num_procedural=50).split(0.2)[1]
    assert {s.object_id for s in other} != {s.object_id for s in test}


def test_pybullet_data_objects_load_as_vhacd_parts() -> None:
    lib = ObjectLibrary.from_source("pybullet_data", seed=0)
    assert len(lib.specs) == 1000
    obj = lib.load(lib.specs[0])
    assert obj is not None and len(obj.parts) == 5  # 000.obj holds five convex parts
    assert np.isclose(obj.extents.max(), 1.0)


def test_broken_meshes_in_a_folder_are_skipped_with_a_warning(tmp_path: Path, caplog) -> None:
    trimesh.creation.box(extents=(0.1, 0.2, 0.3)).export(tmp_path / "good_box.obj")
    trimesh.creation.icosphere().export(tmp_path / "good_sphere.stl")
    (tmp_path / "corrupt.obj").write_text("v 0 0 0\nv nan 1 0\nv 0 1 0\nv 1 1 1\nf 1 2 3\nf 1 3 4\n")
    (tmp_path / "garbage.stl").write_bytes(b"\x00\x01not an stl at all")
    (tmp_path / "notes.txt").write_text("not a mesh")
    with caplog.at_level(logging.WARNING, logger="sdmr.sim.objects"):
        lib = ObjectLibrary.from_source(str(tmp_path), decomposition="hull")
    assert sorted(s.name for s in lib.specs) == ["good_box.obj", "good_sphere.stl"]
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "corrupt.obj" in warned and "garbage.stl" in warned


def test_a_folder_without_meshes_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(DataError, match="no meshes found"):
        ObjectLibrary.from_source(str(tmp_path))
    with pytest.raises(DataError, match="neither"):
        ObjectLibrary.from_source(str(tmp_path / "missing"))


@pytest.mark.slow  # pybullet VHACD on a mesh (~12 s)
def test_vhacd_decomposes_a_non_convex_mesh_and_caches_it(tmp_path: Path) -> None:
    ring = trimesh.creation.annulus(r_min=0.3, r_max=0.5, height=0.2, sections=16)
    vertices, faces = np.asarray(ring.vertices), np.asarray(ring.faces)
    parts = convex_parts(vertices, faces, "vhacd", cache_dir=tmp_path)
    assert len(parts) >= 3  # a ring is not one convex piece
    cached = list(tmp_path.glob("*_vhacd.obj"))
    assert len(cached) == 1 and len(read_obj_groups(cached[0])[2]) == len(parts)
    assert len(convex_parts(vertices, faces, "hull")) == 1
