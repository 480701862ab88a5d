"""Data safety on real files: unsafe names, outputs that would replace dataset files, leftovers of
killed writers, wrong-encoding messages in CLI spelling, OCID sequence folders, a short info."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdmr.data import layout as L
from sdmr.data.check import check_dataset
from sdmr.data.cli import main as data_main
from sdmr.data.coco import CocoJsonDataset, export_coco
from sdmr.data.depth_io import read_depth, write_depth
from sdmr.data.errors import DataError
from sdmr.data.folder import FolderDataset
from sdmr.data.ocid import depth_files_in
from sdmr.data.toy import make_toy_dataset
from sdmr.data.wisdom import WisdomDataset

OCID_DEV = Path(__file__).resolve().parents[2] / ".." / "shared" / "samples" / "ocid_dev"


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    return make_toy_dataset(tmp_path / "toy", num_images=3, height=24, width=32, seed=4)


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


# ------------------------------------------------------------------ 7. names that leave the root
@pytest.mark.parametrize("name", ["../outside.png", "/etc/passwd", "a/../../b.png", ""])
def test_resolve_inside_refuses_escaping_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError, match="images\\[3\\].file_name") as err:
        L.resolve_inside(tmp_path, name, tmp_path / "ann.json", "images[3].file_name")
    assert "ann.json" in str(err.value) and "Fix:" in str(err.value)
    assert L.resolve_inside(tmp_path, "sub/./x.png", None) == tmp_path / "sub" / "x.png"


def _coco_json(folder: Path, file_name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_depth(folder / "d0.png", np.full((8, 8), 0.8, np.float32), "mm16")
    data = {"images": [{"id": 1, "file_name": file_name, "height": 8, "width": 8, "depth_encoding": "mm16"}],
            "annotations": [], "categories": []}  # fmt: skip
    (folder / "ann.json").write_text(json.dumps(data))
    return folder / "ann.json"


def test_a_coco_file_name_outside_the_root_is_refused_and_checked(tmp_path: Path) -> None:
    outside = tmp_path / "secret.png"
    write_depth(outside, np.full((8, 8), 0.5, np.float32), "mm16")
    path = _coco_json(tmp_path / "coco", "../secret.png")
    with pytest.raises(DataError, match=r"images\[0\]\.file_name '\.\./secret\.png' points outside"):
        CocoJsonDataset(path)
    report = check_dataset(path, progress=False)
    assert list(report.by_kind()) == ["unsafe_path"] and not report.ok
    _coco_json(tmp_path / "coco", str(outside))  # absolute
    with pytest.raises(DataError, match="points outside"):
        CocoJsonDataset(path)
    _coco_json(tmp_path / "coco", "d0.png")
    assert CocoJsonDataset(path)[0]["depth"].shape == (8, 8)


def test_an_export_outside_the_dataset_reads_back_without_escaping_names(toy: Path, tmp_path: Path) -> None:
    out = export_coco(WisdomDataset(toy, None), tmp_path / "exports" / "toy.json")
    data = json.loads(out.read_text())
    assert not any(image["file_name"].startswith(("..", "/")) for image in data["images"])
    assert len(CocoJsonDataset(out)) == 3


# ------------------------------------------------------------------ 4. outputs that replace dataset files
@pytest.mark.parametrize("target", ["manifest.json", "train_indices.npy", "depth_ims/new.json", "generate_config.json"])
def test_to_coco_never_replaces_a_file_of_the_dataset(toy: Path, capsys, target: str) -> None:
    before = _snapshot(toy)
    assert data_main(["to-coco", str(toy), str(toy / target)]) == 2
    err = capsys.readouterr().err
    assert "OUT" in err and str(toy / target) in err and "Fix:" in err
    assert _snapshot(toy) == before


def test_to_coco_may_write_and_rewrite_its_own_export_inside_the_dataset(toy: Path) -> None:
    assert data_main(["to-coco", str(toy), str(toy / "coco.json"), "--split", "all"]) == 0
    assert data_main(["to-coco", str(toy), str(toy / "coco.json")]) == 0  # a previous export is replaced
    (toy / "notes.txt").write_text("mine")
    assert data_main(["to-coco", str(toy), str(toy / "notes.txt")]) == 2
    assert (toy / "notes.txt").read_text() == "mine"
    coco = toy / "coco.json"
    before = coco.read_bytes()
    assert data_main(["to-coco", str(coco), str(coco)]) == 2  # the JSON being read
    assert coco.read_bytes() == before


# ------------------------------------------------------------------ 6. leftovers of killed writers
def test_check_reports_orphaned_temp_files(toy: Path) -> None:
    orphan = toy / L.DEPTH_DIR / ".image_000001.png.a1b2c3d4.tmp"
    orphan.write_bytes(b"half")
    report = check_dataset(toy, progress=False)
    assert [p.path for p in report.by_kind()["orphan_temp_file"]] == [orphan]
    assert "orphan_temp_file" in report.format_table()


def test_check_reports_a_generation_that_never_finished(toy: Path, tmp_path: Path) -> None:
    (toy / L.MANIFEST).unlink()
    (toy / "test_indices.npy").unlink()
    report = check_dataset(toy, progress=False)
    problems = report.by_kind()["incomplete_dataset"]
    assert "manifest.json, test_indices.npy" in problems[0].message
    started = tmp_path / "started"
    started.mkdir()
    (started / L.RUN_CONFIG).write_text("{}")
    report = check_dataset(started, progress=False)
    assert not report.ok and list(report.by_kind()) == ["incomplete_dataset"]
    assert "no problems" not in report.format_table() and "problems  none" not in report.format_table()


# ------------------------------------------------------------------ 9. wrong encodings, CLI spelling
def test_a_valid_npy_read_as_mm16_is_a_wrong_encoding(tmp_path: Path) -> None:
    np.save(tmp_path / "d.npy", np.full((4, 4), 0.7, np.float32))
    with pytest.raises(DataError, match="numpy file read as a mm16.*Fix: use --depth-encoding npy") as err:
        read_depth(tmp_path / "d.npy", "mm16")
    assert "corrupt" not in str(err.value)


def test_an_rgb_png_is_never_told_to_use_wisdom8(tmp_path: Path) -> None:
    rgb = np.zeros((6, 6, 3), np.uint8)
    rgb[..., 0], rgb[..., 1] = 200, 30
    Image.fromarray(rgb).save(tmp_path / "c.png")
    for encoding in ("mm16", "wisdom8", "npy"):
        with pytest.raises(DataError, match="colour") as err:
            read_depth(tmp_path / "c.png", encoding)
        assert "wisdom8" not in str(err.value).split("Fix:")[1]
    gray = np.repeat(np.full((6, 6, 1), 90, np.uint8), 3, axis=2)
    Image.fromarray(gray).save(tmp_path / "g.png")
    with pytest.raises(DataError, match="read as 16-bit.*Fix: use --depth-encoding wisdom8"):
        read_depth(tmp_path / "g.png", "mm16")
    Image.fromarray(np.full((6, 6), 800, np.uint16)).save(tmp_path / "m.png")
    with pytest.raises(DataError, match="Fix: use --depth-encoding mm16"):
        read_depth(tmp_path / "m.png", "npy")


def test_hints_use_cli_spelling(toy: Path, tmp_path: Path) -> None:
    (toy / "test_indices.npy").unlink()
    with pytest.raises(DataError, match="--split all"):
        WisdomDataset(toy, "test")
    assert len(WisdomDataset(toy, "all")) == 3
    Image.fromarray(np.full((6, 6), 800, np.uint16)).save(tmp_path / "m.png")
    with pytest.raises(DataError, match="--depth-encoding mm16"):
        FolderDataset(tmp_path)
    with pytest.raises(DataError, match="--split all"):
        FolderDataset(tmp_path, split="train")


# ------------------------------------------------------------------ 10. OCID folders, info
@pytest.mark.skipif(not OCID_DEV.is_dir(), reason="shared OCID samples absent")
def test_an_ocid_sequence_folder_is_recognised_where_depth_files_are_expected(tmp_path: Path) -> None:
    files = depth_files_in(OCID_DEV)
    assert len(files) == 4 and all(p.parent.name == "depth" for p in files)
    assert read_depth(files[0], "mm16").shape == (480, 640)
    assert depth_files_in(tmp_path) == [] and depth_files_in(OCID_DEV / "depth") == []
    with pytest.raises(DataError, match="OCID sequence folder.*--dataset ocid"):
        FolderDataset(OCID_DEV)


def test_info_summarises_the_manifest_in_short_lines(tmp_path: Path, capsys) -> None:
    root = make_toy_dataset(tmp_path / "toy", num_images=3, height=24, width=32, seed=4)
    manifest = json.loads((root / L.MANIFEST).read_text())
    manifest["metadata"]["objects"] = {"source": "procedural", "train": list(range(160)),
                                       "test": list(range(40)), "names": {str(i): f"obj{i}" for i in range(200)}}  # fmt: skip
    (root / L.MANIFEST).write_text(json.dumps(manifest))
    assert data_main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "train 160, test 40, 200 named" in out and "obj17" not in out
    assert max(len(line) for line in out.splitlines()) < 200
