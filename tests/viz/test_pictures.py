"""The one visualiser: depth convention, overlays, captions, grids and the dataset preview."""

from __future__ import annotations

import numpy as np
from PIL import Image

from sdmr.data.instances import Instances
from sdmr.data.toy import make_toy_dataset
from sdmr.viz import PALETTE, caption, depth_to_grey, describe, grid, overlay
from sdmr.viz.preview import preview_grid


def test_depth_is_grey_near_bright_invalid_black():
    depth = np.full((8, 8), 1.0, np.float32)
    depth[2:4, 2:4] = 0.8
    depth[0, 0], depth[7, 7] = 0.0, np.nan
    grey = depth_to_grey(depth)
    assert grey.dtype == np.uint8 and grey[0, 0] == 0 and grey[7, 7] == 0
    assert grey[2, 2] > grey[5, 5] > 0


def test_overlay_colours_objects_keeps_background_and_captions_say_what_is_shown():
    grey = np.full((10, 12), 100, np.uint8)
    label = np.zeros((10, 12), np.uint16)
    label[2:8, 2:8] = 1
    rgb = overlay(grey, label)
    assert (rgb[0, 0] == 100).all() and (rgb[2, 2] == PALETTE[0]).all()  # outline at full colour
    assert not (rgb[4, 4] == 100).all() and not (rgb[4, 4] == PALETTE[0]).all()  # interior blended
    found = Instances(label[None] > 0, scores=np.array([0.87]))
    assert describe(found, "sdmr", "img_1", "prediction") == ["prediction | sdmr | img_1", "1 object | scores 0.87"]
    assert describe(Instances.empty(10, 12), "sdmr")[-1] == "no objects found"
    captioned = caption(rgb, ["a", "b"])
    assert captioned.shape[1:] == rgb.shape[1:] and captioned.shape[0] > rgb.shape[0]
    assert (captioned[-10:] == rgb).all() and captioned[:10].max() > 200  # light text on the band
    assert grid([rgb, rgb, rgb], columns=2, gap=2).shape == (22, 26, 3)


def test_preview_grid_is_a_captioned_contact_sheet(tmp_path):
    root = make_toy_dataset(tmp_path / "toy", num_images=3, height=48, width=64, seed=0)
    path = preview_grid(root, tmp_path / "grid.png", count=3, columns=3)
    sheet = np.asarray(Image.open(path))
    assert sheet.shape == (48 + 4, 3 * (2 * 64 + 4), 3)
    assert (sheet[2:8, 2:40] == 0).any() and sheet[2:14, 2:60].max() > 200  # a caption band with text
