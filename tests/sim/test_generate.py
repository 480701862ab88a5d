"""End to end: real generation runs, compared byte for byte across seeds, resumes, shards, workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdmr.data.errors import DataError
from sdmr.data.layout import META_DIR, read_amodal
from sdmr.data.wisdom import WisdomDataset
from sdmr.sim.cli import main as cli_main
from sdmr.sim.config import build_config, load_config
from sdmr.sim.generate import Shard, generate, heap_is_test
from sdmr.sim.merge import merge_shards


def _image_files(root: Path) -> dict[str, bytes]:
    """Every per-image file's bytes (amodal ``.npz`` included: their zip timestamps are fixed)."""
    files = {}
    for path in sorted(p for p in root.rglob("image_*") if p.is_file()):
        files[str(path.relative_to(root))] = path.read_bytes()
    for name in ("train_indices.npy", "test_indices.npy", "camera_intrinsics.intr"):
        if (root / name).is_file():
            files[name] = (root / name).read_bytes()
    return files


def _assert_same_dataset(a: Path, b: Path) -> None:
    fa, fb = _image_files(a), _image_files(b)
    assert sorted(fa) == sorted(fb)
    different = [k for k in fa if fa[k] != fb[k]]
    assert not different, different[:5]


@pytest.fixture
def reference(tmp_path_factory, tiny_values) -> Path:
    """One uninterrupted single-process run of the tiny config."""
    root = tmp_path_factory.mktemp("reference")
    generate(build_config(tiny_values), root, workers=1, progress=False)
    return root


def test_output_loads_and_is_consistent(reference: Path, tiny_values) -> None:
    manifest = json.loads((reference / "manifest.json").read_text())
    assert manifest["num_images"] == 6 and manifest["image_size"] == [64, 96] and manifest["has_amodal"]
    train = WisdomDataset(reference, split="train", load_amodal=True)
    test = WisdomDataset(reference, split="test", load_amodal=True)
    assert len(train) + len(test) == 6 and len(test) == 2  # heap 1 of 3 is the test heap
    assert not set(train.indices) & set(test.indices)
    total = 0
    for sample in [*train, *test]:
        inst = sample["instances"]
        meta = json.loads((reference / META_DIR / f"image_{sample['image_id']:06d}.json").read_text())
        assert len(inst) == meta["num_instances"]
        assert sample["depth"].shape == (64, 96) and sample["depth"].dtype == np.float32
        assert np.all(sample["depth"] >= 0) and (sample["depth"] > 0).mean() > 0.5  # 0 = nothing hit
        amodal = read_amodal(reference / "amodal_masks" / f"image_{sample['image_id']:06d}.npz")
        assert amodal.shape == inst.masks.shape and not np.any(inst.masks & ~amodal)
        png = np.asarray(Image.open(reference / "depth_ims" / f"image_{sample['image_id']:06d}.png"))
        assert png.shape == (64, 96, 3)  # wisdom8: original tools read it
        total += len(inst)
    assert total > 0


def test_train_and_test_images_share_no_object(reference: Path) -> None:
    manifest = json.loads((reference / "manifest.json").read_text())
    split_objects = manifest["metadata"]["objects"]
    assert not set(split_objects["train"]) & set(split_objects["test"])
    for split in ("train", "test"):
        allowed = set(split_objects[split])
        for i in np.load(reference / f"{split}_indices.npy"):
            ids = json.loads((reference / META_DIR / f"image_{i:06d}.json").read_text())["object_ids"]
            assert set(ids) <= allowed, (split, i, ids)


def test_same_seed_same_bytes_and_other_seed_differs(reference: Path, tmp_path: Path, tiny_values) -> None:
    generate(build_config(tiny_values), tmp_path / "again", workers=1, progress=False)
    _assert_same_dataset(reference, tmp_path / "again")
    generate(build_config({**tiny_values, "seed": 4}), tmp_path / "other", workers=1, progress=False)
    assert (
        _image_files(tmp_path / "other")["depth_ims/image_000000.png"]
        != _image_files(reference)["depth_ims/image_000000.png"]
    )


def test_resume_after_a_partial_run_gives_the_same_dataset(
    reference: Path, tmp_path: Path, tiny_values
) -> None:
    root = tmp_path / "resumed"
    generate(build_config({**tiny_values, "num_images": 3}), root, workers=1, progress=False, finalize=False)
    (root / META_DIR / "image_000001.json").unlink()  # as if killed inside heap 0
    summary = generate(build_config(tiny_values), root, workers=1, progress=False)
    assert summary["images_written"] == 4  # image 1, image 3 (heap 1 was cut at 3 images), heap 2
    _assert_same_dataset(reference, root)


def test_killed_process_resumes_with_two_workers_to_the_same_bytes(
    reference: Path, tmp_path: Path, tiny_values
) -> None:
    import yaml

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_values))
    root = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "sdmr.sim.cli",
        "--output",
        str(root),
        "--config",
        str(config),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if len(list((root / META_DIR).glob("*.json"))) >= 1 if (root / META_DIR).is_dir() else False:
            break
        time.sleep(0.01)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL  # really killed mid-run...
    assert 1 <= len(list((root / META_DIR).glob("*.json"))) < 6 and not (root / "manifest.json").exists()
    assert cli_main(["--output", str(root), "--config", str(config), "--workers", "2", "--no-progress"]) == 0
    _assert_same_dataset(reference, root)


def test_resuming_with_other_settings_is_refused(reference: Path, tiny_values) -> None:
    with pytest.raises(DataError, match="seed") as err:
        generate(build_config({**tiny_values, "seed": 99}), reference, progress=False)
    assert "generate_config.json" in str(err.value)


def test_shards_merge_into_the_unsharded_dataset(reference: Path, tmp_path: Path, tiny_values) -> None:
    cfg = build_config(tiny_values)
    generate(cfg, tmp_path / "s0", shard=Shard(0, 2), progress=False)
    generate(cfg, tmp_path / "s1", shard=Shard(1, 2), progress=False)
    assert len(list((tmp_path / "s0" / META_DIR).iterdir())) == 4  # heaps 0 and 2
    merge_shards(tmp_path / "merged", [tmp_path / "s0", tmp_path / "s1"])
    _assert_same_dataset(reference, tmp_path / "merged")
    with pytest.raises(DataError, match="in shards"):
        merge_shards(tmp_path / "again", [tmp_path / "s0", tmp_path / "merged"])


def test_cli_generate_and_preview(tmp_path: Path) -> None:
    root = tmp_path / "cli"
    args = [
        "--output",
        str(root),
        "--num-images",
        "2",
        "--seed",
        "1",
        "--height",
        "64",
        "--width",
        "96",
        "--camera",
        "paper",
        "--noise",
        "--no-progress",
    ]
    assert cli_main(args) == 0
    meta = json.loads((root / META_DIR / "image_000000.json").read_text())
    assert meta["extra"]["scene"] == "bin" and meta["extra"]["noise"] is True
    assert len(np.load(root / "train_indices.npy")) + len(np.load(root / "test_indices.npy")) == 2
    assert cli_main(["preview", str(root), "--output", str(tmp_path / "grid.png"), "--columns", "2"]) == 0
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (64 + 4, 2 * (2 * 96 + 4), 3) and grid.std() > 10


def test_bad_config_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("scene:\n  max_objectz: 3\n")
    with pytest.raises(DataError, match="max_objectz") as err:
        load_config(bad)
    assert "bad.yaml" in str(err.value)
    with pytest.raises(DataError, match="shard"):
        Shard.parse("3/2")


def test_test_heaps_follow_the_fraction_exactly() -> None:
    assert sum(heap_is_test(h, 0.2) for h in range(100)) == 20
    assert sum(heap_is_test(h, 0.0) for h in range(100)) == 0


def test_generation_from_a_mesh_folder_with_a_broken_file(tmp_path: Path, tiny_values, caplog) -> None:
    import logging

    import trimesh

    meshes = tmp_path / "meshes"
    meshes.mkdir()
    trimesh.creation.box(extents=(0.1, 0.2, 0.3)).export(meshes / "box.obj")
    trimesh.creation.cylinder(radius=0.05, height=0.2).export(meshes / "can.stl")
    trimesh.creation.capsule(radius=0.04, height=0.1).export(meshes / "pill.ply")
    (meshes / "broken.obj").write_text("f 1 2 3\n")
    values = {
        **tiny_values,
        "num_images": 4,
        "objects": {"source": str(meshes), "decomposition": "hull", "test_fraction": 0.34},
    }
    with caplog.at_level(logging.WARNING, logger="sdmr.sim.objects"):
        generate(build_config(values), tmp_path / "out", progress=False)
    assert any("broken.obj" in r.getMessage() for r in caplog.records)
    names = json.loads((tmp_path / "out" / "manifest.json").read_text())["metadata"]["objects"]["names"]
    assert sorted(names.values()) == ["box.obj", "can.stl", "pill.ply"]
    assert (
        len(WisdomDataset(tmp_path / "out", split="train"))
        + len(WisdomDataset(tmp_path / "out", split="test"))
        == 4
    )


def test_colour_and_bin_masks_are_written_when_asked(tmp_path: Path, tiny_values) -> None:
    values = {
        **tiny_values,
        "num_images": 2,
        "render": {"color": True, "bin_mask": True, "min_visible_pixels": 1},
    }
    generate(build_config(values), tmp_path, progress=False)
    sample = WisdomDataset(tmp_path, split=None, load_color=True)[0]
    assert sample["color"].shape == (64, 96, 3) and sample["color"].std() > 1
    labelled = sample["instances"].masks.any(axis=0)
    assert np.array_equal(sample["bin_mask"], ~labelled)  # support pixels = everything not an object


def test_a_worker_that_cannot_start_fails_the_run_instead_of_hanging(tmp_path: Path, tiny_values) -> None:
    values = {**tiny_values, "render": {"png_encoding": "npy"}}  # the writer rejects it inside each worker
    cfg = build_config(values)
    from sdmr.sim.generate import _iterate, build_library

    with pytest.raises(RuntimeError, match="worker could not start"):
        list(_iterate(cfg, tmp_path, build_library(cfg, tmp_path), [0, 1], workers=2))


def test_cameras_stay_in_front_of_a_wall(tmp_path: Path, tiny_values) -> None:
    values = {
        **tiny_values,
        "num_images": 6,
        "scene": {**tiny_values["scene"], "kind": "table", "wall_probability": 1.0},
    }
    generate(build_config(values), tmp_path, progress=False)
    for meta in sorted((tmp_path / META_DIR).glob("*.json")):
        pose = np.asarray(json.loads(meta.read_text())["extra"]["world_from_camera"])
        assert pose[1, 3] < 0.05  # on the open side (aim jitter ± 5 cm), never behind the wall at +y


def test_a_corrupt_stored_config_is_a_data_error_naming_it(tmp_path: Path, tiny_values) -> None:
    (tmp_path / "generate_config.json").write_text("{not json")
    with pytest.raises(DataError, match="generate_config.json.*Fix:"):
        generate(build_config(tiny_values), tmp_path, progress=False)


def test_a_section_that_is_not_a_mapping_is_a_data_error_with_a_fix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("scene: 3\n")
    with pytest.raises(DataError, match="'scene' must be a mapping.*Fix:.*max_objects") as err:
        load_config(bad)
    assert "bad.yaml" in str(err.value)
    bad.write_text("- num_images: 3\n")
    with pytest.raises(DataError, match="config must be a mapping.*Fix:"):
        load_config(bad)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("views_per_heap", 0),
        ("num_images", -1),
        ("num_images", "many"),
        ("test_fraction", 1.5),
        ("objects.test_fraction", 1.0),
    ],
)
def test_unusable_counts_and_fractions_are_data_errors_naming_the_file(tmp_path: Path, key, value) -> None:
    import yaml

    section, _, name = key.rpartition(".")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({section: {name: value}} if section else {name: value}))
    with pytest.raises(DataError, match=f"'{key}' must be.*Fix:") as err:
        load_config(bad)
    assert "bad.yaml" in str(err.value)
