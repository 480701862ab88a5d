"""sdmr-generate never writes into data it did not start, and a refused run writes nothing at all.

Real generation runs (a few 32×48 images) and real folders made by other writers; every refusal
is checked against a byte-for-byte snapshot of the folder taken before the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sdmr.data.errors import DataError
from sdmr.data.layout import META_DIR
from sdmr.data.toy import make_toy_dataset
from sdmr.sim.cli import main as cli_main
from sdmr.sim.config import build_config
from sdmr.sim.generate import RUN_CONFIG, generate


@pytest.fixture
def small_values(tiny_values) -> dict:
    """conftest's tiny_values made smaller still (4 images of 48×32): these tests generate several times."""
    return {
        **tiny_values,
        "num_images": 4,
        "test_fraction": 0.5,
        "camera": {"width": 48, "height": 32},
        "scene": {**tiny_values["scene"], "max_objects": 2, "poisson_lambda": 1.5},
        "objects": {**tiny_values["objects"], "num_procedural": 6, "test_fraction": 0.34},
    }


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every entry under ``root`` (hidden ones included): file bytes, None for folders."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))
    }


def _cli(output: Path, *extra: str) -> list[str]:
    return ["--output", str(output), "--height", "32", "--width", "48", "--no-progress", *extra]


def test_a_toy_dataset_is_refused_and_left_byte_for_byte(tmp_path: Path, capsys) -> None:
    root = make_toy_dataset(tmp_path / "toy", num_images=3, height=24, width=32, seed=1)
    before = _snapshot(root)
    assert cli_main(_cli(root, "--num-images", "2")) == 2
    err = capsys.readouterr().err
    assert "not made by sdmr-generate" in err and "manifest.json" in err and "depth_ims/" in err
    assert "Fix:" in err and str(root) in err and len(err.strip().splitlines()) == 1
    assert _snapshot(root) == before


def test_a_wisdom_layout_folder_without_a_run_config_is_refused(tmp_path: Path, small_values) -> None:
    root = tmp_path / "wisdom"
    (root / "depth_ims").mkdir(parents=True)
    (root / "depth_ims" / "image_000000.png").write_bytes(b"not really a png")
    (root / "train_indices.npy").write_bytes(b"x")
    before = _snapshot(root)
    with pytest.raises(DataError, match="WISDOM-layout dataset: depth_ims/, train_indices.npy") as err:
        generate(build_config(small_values), root, progress=False)
    assert RUN_CONFIG in str(err.value)
    assert _snapshot(root) == before


def test_other_settings_are_refused_and_the_folder_is_left_byte_for_byte(tmp_path: Path, small_values) -> None:
    root = tmp_path / "run"
    generate(build_config(small_values), root, progress=False)
    before = _snapshot(root)
    with pytest.raises(DataError, match="other settings.*seed"):
        generate(build_config({**small_values, "seed": 9}), root, progress=False)
    assert _snapshot(root) == before
    generate(build_config(small_values), root, progress=False)  # the same settings: a no-op resume
    assert _snapshot(root) == before


@pytest.mark.parametrize(
    ("argument", "value"),
    [("--height", "0"), ("--width", "-3"), ("--seed", "-1"), ("--num-images", "0"), ("--num-images", "-5"),
     ("--workers", "0"), ("--height", "tall")],
)
def test_a_bad_argument_is_named_and_nothing_is_written(tmp_path: Path, capsys, argument, value) -> None:
    out = tmp_path / "out"
    args = _cli(out, "--num-images", "2")
    args += [argument, value]
    with pytest.raises(SystemExit) as exit_info:
        cli_main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {argument}" in err and value in err
    assert not out.exists()


def test_a_bad_setting_given_through_the_api_writes_nothing(tmp_path: Path, small_values) -> None:
    out = tmp_path / "out"
    with pytest.raises(DataError, match="'seed' must be an integer ≥ 0"):
        generate(build_config({**small_values, "seed": -1}), out, progress=False)
    with pytest.raises(DataError, match="'camera.height' must be an integer ≥ 1"):
        build_config({**small_values, "camera": {"height": 0}})
    with pytest.raises(DataError, match="not found|no mesh|objects"):
        generate(build_config({**small_values, "objects": {"source": str(tmp_path / "nope")}}), out, progress=False)
    assert not out.exists()  # not even generate_config.json


def test_a_resume_with_fewer_images_is_refused(tmp_path: Path, small_values) -> None:
    root = tmp_path / "run"
    generate(build_config(small_values), root, progress=False)
    before = _snapshot(root)
    with pytest.raises(DataError, match="dataset of 4 images.*--num-images is 2.*Fix: resume with --num-images 4"):
        generate(build_config({**small_values, "num_images": 2}), root, progress=False)
    assert _snapshot(root) == before


def test_a_killed_run_asked_to_finish_smaller_is_refused(tmp_path: Path, small_values) -> None:
    """The run was started for 4 images and killed after 2: the stored count still says 4."""
    root = tmp_path / "run"
    generate(build_config(small_values), root, progress=False, finalize=False)
    for index in (2, 3):
        (root / META_DIR / f"image_{index:06d}.json").unlink()
    assert json.loads((root / RUN_CONFIG).read_text())["num_images"] == 4
    with pytest.raises(DataError, match="--num-images 4 or more"):
        generate(build_config({**small_values, "num_images": 2}), root, progress=False)
    summary = generate(build_config({**small_values, "num_images": 6}), root, progress=False)  # extending is fine
    assert summary["images_written"] == 4
    assert json.loads((root / RUN_CONFIG).read_text())["num_images"] == 6


def test_orphaned_temp_files_are_removed_on_resume(tmp_path: Path, small_values) -> None:
    root = tmp_path / "run"
    generate(build_config(small_values), root, progress=False, finalize=False)
    before = _snapshot(root)
    orphans = [root / "depth_ims" / ".image_000001.png.k3j4h5g6.tmp", root / ".manifest.json.abcd_123.tmp"]
    for path in orphans:
        path.write_bytes(b"half a file")
    keep = root / "depth_ims" / ".notes.tmp"  # not an atomic-write name: not ours to delete
    keep.write_bytes(b"user file")
    generate(build_config(small_values), root, progress=False)
    assert not any(p.exists() for p in orphans) and keep.read_bytes() == b"user file"
    after = _snapshot(root)
    assert {k: v for k, v in after.items() if k in before} == before  # images untouched
    assert (root / "manifest.json").is_file()


_HOLD = """
import sys, time
from sdmr.data.lock import FolderLock
FolderLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(120)
"""


def test_a_second_generator_on_the_same_folder_is_refused(tmp_path: Path, small_values) -> None:
    root = tmp_path / "run"
    generate(build_config(small_values), root, progress=False, finalize=False)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(root)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = _snapshot(root)
        with pytest.raises(DataError, match=f"another process \\(pid {holder.pid}\\) is writing"):
            generate(build_config({**small_values, "num_images": 6}), root, progress=False)
        assert _snapshot(root) == before
    finally:
        holder.kill()
        holder.wait()
    generate(build_config({**small_values, "num_images": 6}), root, progress=False)  # free once it died
    assert len(np.load(root / "train_indices.npy")) + len(np.load(root / "test_indices.npy")) == 6


def test_merge_is_refused_while_another_writer_holds_the_output(tmp_path: Path, small_values) -> None:
    from sdmr.sim.generate import Shard
    from sdmr.sim.merge import merge_shards

    cfg = build_config(small_values)
    generate(cfg, tmp_path / "s0", shard=Shard(0, 2), progress=False)
    generate(cfg, tmp_path / "s1", shard=Shard(1, 2), progress=False)
    out = tmp_path / "merged"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DataError, match=f"pid {holder.pid}"):
            merge_shards(out, [tmp_path / "s0", tmp_path / "s1"])
        assert not (out / "manifest.json").exists()
    finally:
        holder.kill()
        holder.wait()
    merge_shards(out, [tmp_path / "s0", tmp_path / "s1"])
    assert (out / "manifest.json").is_file() and not (out / ".sdmr.lock").exists()
