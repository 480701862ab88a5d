"""32-bit float TIFF depth (metres): lossless round trip, listed by FolderDataset, wrong kinds refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sdmr.data.depth_io import read_depth, write_depth
from sdmr.data.errors import DataError
from sdmr.data.folder import FolderDataset


def test_float_tiff_round_trip_keeps_nan_and_zero(tmp_path):
    depth = np.linspace(0.4, 1.9, 64 * 48, dtype=np.float32).reshape(48, 64)
    depth[0, 0], depth[5, 7] = np.nan, 0.0
    write_depth(tmp_path / "d.tiff", depth, "tiff")
    back = read_depth(tmp_path / "d.tiff", "tiff")
    assert back.dtype == np.float32 and np.array_equal(back, depth, equal_nan=True)
    (tmp_path / "other.png").write_bytes(b"")  # not a TIFF: not listed
    write_depth(tmp_path / "e.tif", depth, "tiff")
    folder = FolderDataset(tmp_path, depth_encoding="tiff")
    assert [p.name for p in folder.files] == ["d.tiff", "e.tif"]
    assert np.array_equal(folder[1]["depth"], depth, equal_nan=True)


def test_integer_tiff_is_refused_as_float_but_reads_as_mm16(tmp_path):
    Image.fromarray(np.full((8, 8), 812, dtype=np.uint16)).save(tmp_path / "mm.tif")
    with pytest.raises(DataError, match="mm.tif: expected a single-channel float TIFF.*Fix:.*mm16"):
        read_depth(tmp_path / "mm.tif", "tiff")
    assert np.allclose(read_depth(tmp_path / "mm.tif", "mm16"), 0.812)
