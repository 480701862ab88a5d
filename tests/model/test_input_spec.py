"""The input spec: stored in checkpoints, read back (old depth-only files included), one encoder for
the DataModule, Segmenter and methods, colour and depth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sdmr.data.datamodule import DepthDataModule
from sdmr.data.errors import DataError
from sdmr.data.input_spec import InputSpec, input_spec
from sdmr.data.toy import render_toy_scene
from sdmr.data.transforms import depth_to_model_input
from sdmr.model import build_sdmask_rcnn
from sdmr.model.checkpoint import EXPORT_FORMAT, export_model, read_model_file
from sdmr.model.inference import Segmenter

TINY_KWARGS = {"anchor_sizes": [16, 32, 64, 128, 256], "box_score_thresh": 0.0, "box_detections_per_img": 10}
RAW = {"score_threshold": 0.0, "surface_ratio": None, "trim_below_height": None, "input_scale": 1.0}


def test_names_and_dicts_read_as_specs_and_round_trip():
    assert input_spec("median_relative") == InputSpec("depth", "median_relative")
    assert input_spec("color") == InputSpec("color", "rgb")
    spec = InputSpec("depth", "normals")
    assert input_spec(spec.to_dict()) == spec and spec.channels == 3 and InputSpec().channels == 1
    assert input_spec({"modality": "color"}) == InputSpec("color", "rgb")
    for bad, message in (
        ("minmax", "unknown input encoding 'minmax'"),
        ({"modality": "thermal"}, "unknown input modality 'thermal'"),
        ({"modality": "color", "encoding": "hsv"}, "unknown colour encoding 'hsv'"),
        ({"encoding": "median_relative"}, "is not"),
        (3, "must be a name or a dict"),
    ):
        with pytest.raises(DataError, match=message):
            input_spec(bad, "model.pt")


def test_colour_encoding_scales_rgb_and_refuses_wrong_images():
    depth = np.full((4, 6), 0.8, np.float32)
    color = np.zeros((4, 6, 3), np.uint8)
    color[..., 0], color[0, 0, 2] = 255, 51
    image = InputSpec("color", "rgb").encode(depth, color=color)
    assert image.shape == (3, 4, 6) and image.dtype == torch.float32
    assert torch.all(image[0] == 1.0) and image[2, 0, 0] == pytest.approx(0.2) and image[1].sum() == 0
    spec = InputSpec("color", "rgb")
    with pytest.raises(DataError, match="image 7: this model reads colour images, but the sample has none"):
        spec.encode(depth, where="image 7")
    with pytest.raises(DataError, match="uint8 H×W×3"):
        spec.encode(depth, color=color.astype(np.float32))
    with pytest.raises(DataError, match="colour image is 4×5 but depth is 4×6"):
        spec.encode(depth, color=color[:, :5])
    depth_in = InputSpec("depth", "median_relative").encode(depth)
    assert torch.equal(depth_in, depth_to_model_input(depth, "median_relative"))  # the one depth encoder


def _legacy_export(path, model) -> None:
    """An export as sdmr wrote them before input specs: a depth encoding name only."""
    torch.save({"format": EXPORT_FORMAT, "model_kwargs": TINY_KWARGS, "input_encoding": "wisdom_fixed",
                "state_dict": model.state_dict()}, path)


def _legacy_lightning(path, model) -> None:
    """A Lightning .ckpt as sdmr.train wrote them before input specs."""
    import pytorch_lightning as pl

    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "global_step": 3,
                "pytorch-lightning_version": pl.__version__,
                "epoch": 0, "hyper_parameters": {"model_kwargs": TINY_KWARGS, "input_encoding": "median_relative"}},
               path)


@pytest.mark.parametrize(("write", "encoding"), [(_legacy_export, "wisdom_fixed"), (_legacy_lightning, "median_relative")])
def test_old_depth_only_checkpoints_still_load_as_depth_specs(tmp_path, depth_image, write, encoding):
    torch.manual_seed(0)
    model = build_sdmask_rcnn(**TINY_KWARGS)
    path = tmp_path / "old.pt"
    write(path, model)
    assert read_model_file(path).input_spec == InputSpec("depth", encoding)
    segmenter = Segmenter(path, **RAW)
    assert segmenter.input_spec == InputSpec("depth", encoding) and segmenter.input_encoding == encoding
    assert segmenter.segment(depth_image).image_size == depth_image.shape
    if encoding == "median_relative":  # the Lightning module itself reloads from the old hyper-parameters
        from sdmr.model.lightning_module import SDMaskRCNNModule

        module = SDMaskRCNNModule.load_from_checkpoint(path, weights_only=True, map_location="cpu")
        assert module.input_spec == InputSpec("depth", encoding)


def test_a_colour_model_segments_colour_and_refuses_depth_alone(tmp_path, depth_image):
    torch.manual_seed(0)
    path = tmp_path / "colour.pt"
    export_model(build_sdmask_rcnn(**TINY_KWARGS), TINY_KWARGS, InputSpec("color", "rgb"), path)
    stored = torch.load(path, weights_only=True)
    assert stored["input_spec"] == {"modality": "color", "encoding": "rgb", "channels": 3, "range": [0.0, 1.0]}
    segmenter = Segmenter(path, **RAW)
    color = np.random.default_rng(0).integers(0, 255, (*depth_image.shape, 3), dtype=np.uint8)
    result = segmenter.segment(depth_image, color=color)
    assert result.image_size == depth_image.shape and len(result) > 0
    with pytest.raises(DataError, match="reads colour images"):
        segmenter.segment(depth_image)


def test_datamodule_from_samples_trains_on_samples_in_memory_with_either_input():
    samples = [dict(render_toy_scene(np.random.default_rng(i), 64, 96), image_id=i) for i in range(3)]
    for encoding, channels in (("median_relative", 1), ("color", 3)):
        dm = DepthDataModule.from_samples(samples, input_encoding=encoding, batch_size=2, num_workers=0, pad_to=None)
        dm.setup("fit")
        images, targets = next(iter(dm.train_dataloader()))
        assert len(images) == 2 and images[0].shape == (3, 64, 96) and "masks" in targets[0]
        assert dm.spec.channels == channels and not dm.has_validation and dm.val_dataloader() == []
    with_val = DepthDataModule.from_samples(samples[:2], samples[2:], num_workers=0, pad_to=None)
    with_val.setup("fit")
    assert len(with_val.val_set) == 1 and with_val.has_validation
    with pytest.raises(DataError, match="no training samples"):
        DepthDataModule.from_samples([])
