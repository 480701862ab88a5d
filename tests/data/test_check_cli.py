"""`sdmr-data check / info / to-coco` on clean and deliberately broken datasets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from sdmr.data import layout as L
from sdmr.data.check import PROBLEM_KINDS, check_dataset
from sdmr.data.cli import main
from sdmr.data.toy import make_toy_dataset

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "samples"


def _toy(tmp: Path, n: int = 6) -> Path:
    return make_toy_dataset(tmp / "toy", num_images=n, height=32, width=48, seed=1)


def test_clean_toy_dataset_passes_with_correct_table(tmp_path: Path, capsys) -> None:
    root = _toy(tmp_path)
    assert main(["check", str(root), "--quiet"]) == 0
    out = capsys.readouterr().out
    meta = [json.loads(p.read_text()) for p in sorted((root / L.META_DIR).glob("*.json"))]
    counts = [m["num_instances"] for m in meta]
    train = np.load(root / "train_indices.npy")
    assert f"images            {len(meta)}" in out
    assert f"split train       {train.size}" in out and f"split test        {len(meta) - train.size}" in out
    assert f"min {min(counts)}  mean {np.mean(counts):.2f}  max {max(counts)}" in out
    assert f"{sum(counts)} objects" in out and "32×48 (6)" in out
    assert "problems          none" in out


def test_broken_dataset_reports_every_kind_with_files(tmp_path: Path, capsys) -> None:
    root = _toy(tmp_path, n=8)
    # corrupt PNG depth, NaN-only numpy depth, missing label, label id beyond the meta, bad amodal shape
    (root / L.DEPTH_DIR / "image_000000.png").write_bytes(b"\x89PNG broken")
    np.save(root / L.DEPTH_NUMPY_DIR / "image_000001.npy", np.full((32, 48), np.nan, np.float32))
    (root / L.MODAL_DIR / "image_000002.png").unlink()
    Image.fromarray(np.full((32, 48), 7, np.uint8)).save(root / L.MODAL_DIR / "image_000003.png")
    np.savez(
        root / L.AMODAL_DIR / "image_000004.npz",
        masks=np.packbits(np.ones(8, bool)),
        shape=np.array([1, 2, 4]),
    )
    # depth copies of different sizes
    np.save(root / L.DEPTH_NUMPY_DIR / "image_000005.npy", np.full((30, 48), 0.8, np.float32))
    # an image whose meta never got written (interrupted job)
    (root / L.DEPTH_DIR / "image_000006.png").replace(root / L.DEPTH_DIR / "image_000066.png")
    # splits: out of range and overlapping
    np.save(root / "train_indices.npy", np.array([0, 1, 2, 99]))
    np.save(root / "test_indices.npy", np.array([2, 3]))

    report = check_dataset(root, progress=False)
    kinds = report.by_kind()
    files = {kind: {p.path.name for p in problems if p.path} for kind, problems in kinds.items()}
    assert "image_000000.png" in files["corrupt_file"]
    assert "image_000001.npy" in files["bad_depth"]
    assert "image_000002.png" in files["missing_file"]
    assert "image_000003.png" in files["bad_labels"]
    assert "image_000004.npz" in files["amodal_mismatch"]
    assert "image_000005.png" in files["size_mismatch"]
    assert "image_000066.json" in files["incomplete_image"]
    assert files["bad_indices"] == {"train_indices.npy", "test_indices.npy"}
    assert set(kinds) <= set(PROBLEM_KINDS) and "invalid_data" not in kinds

    assert main(["check", str(root), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "problem" in out and "corrupt_file" in out and "depth_ims/image_000000.png" in out
    assert "first problem of each kind:" in out


def test_raw_layout_overlapping_channels_and_empty_amodal(tmp_path: Path) -> None:
    base = tmp_path / "images"
    from sdmr.data.depth_io import write_depth

    write_depth(base / "depth_ims" / "image_000000.png", np.full((16, 16), 0.7, np.float32), "wisdom8")
    for kind in ("modal_masks", "amodal_masks"):
        (base / kind / "image_000000").mkdir(parents=True)
    a = np.zeros((16, 16), np.uint8)
    a[2:8, 2:8] = 255
    b = np.zeros((16, 16), np.uint8)
    b[5:10, 5:10] = 255
    for k, mask in enumerate((a, b)):
        Image.fromarray(mask).save(base / "modal_masks" / "image_000000" / f"channel_{k:03d}.png")
    Image.fromarray(a).save(base / "amodal_masks" / "image_000000" / "channel_000.png")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(
        base / "amodal_masks" / "image_000000" / "channel_001.png"
    )
    kinds = check_dataset(tmp_path, progress=False).by_kind()
    assert {"overlapping_masks", "empty_mask", "amodal_mismatch"} <= set(kinds)


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared samples absent")
def test_check_shared_samples_folder(capsys) -> None:
    assert main(["check", str(SAMPLES), "--quiet"]) == 0
    out = capsys.readouterr().out
    depths = [np.load(SAMPLES / f"uois_{k}_depth.npy") for k in range(3)]
    low = min(d[d > 0].min() for d in depths)
    high = max(d.max() for d in depths)
    valid = np.mean([(d > 0).mean() for d in depths])
    assert "dataset           folder" in out and "images            3" in out
    assert f"min {low:.3f}  max {high:.3f}  valid pixels {100 * valid:.1f} %" in out
    assert "480×640 (3)" in out and "- (unlabelled)" in out


@pytest.mark.skipif(not (SAMPLES / "ocid_dev").is_dir(), reason="shared OCID samples absent")
def test_check_ocid_dev(capsys) -> None:
    assert main(["check", str(SAMPLES / "ocid_dev"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "min 2  mean 2.75  max 3  (4 labelled images, 11 objects)" in out


def test_info_and_to_coco_console_script(tmp_path: Path) -> None:
    root = _toy(tmp_path)
    script = Path(sys.executable).with_name("sdmr-data")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "sdmr.data.cli"]
    info = subprocess.run([*command, "info", str(root)], capture_output=True, text=True, check=True)
    assert "layout            training" in info.stdout and '"png_encoding": "wisdom8"' in info.stdout
    out = tmp_path / "test.json"
    done = subprocess.run(
        [*command, "to-coco", str(root), str(out), "--split", "test"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    coco = COCO(str(out))
    test = np.load(root / "test_indices.npy")
    assert sorted(coco.getImgIds()) == sorted(test.tolist())
    bad = subprocess.run(
        [*command, "info", str(tmp_path / "nope")], capture_output=True, text=True, check=False
    )
    assert bad.returncode == 2 and "Fix:" in bad.stderr and "nope" in bad.stderr


def test_ocid_refuses_a_depth_encoding_it_would_ignore(tmp_path: Path, capsys) -> None:
    from sdmr.data.depth_io import write_depth

    (tmp_path / "depth").mkdir()
    write_depth(tmp_path / "depth" / "f.png", np.full((8, 8), 0.8, np.float32), "mm16")
    assert main(["check", str(tmp_path), "--quiet", "--depth-encoding", "mm16"]) == 0
    for command in (["check", "--quiet"], ["info"]):
        capsys.readouterr()
        assert main([command[0], str(tmp_path), *command[1:], "--depth-encoding", "wisdom8"]) == 2
        err = capsys.readouterr().err
        assert "OCID depth is 16-bit millimetres" in err and "Fix:" in err
