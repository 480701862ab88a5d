"""Depth → model input, flips and padding keep depth, masks and boxes together."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sdmr.data import DataError, Instances
from sdmr.data.datamodule import DetectionDataset, collate_detection, nested_subset_positions
from sdmr.data.transforms import depth_to_model_input, flip, instances_to_target, pad_bottom_right


def make_sample(height: int = 24, width: int = 32, image_id: int = 7) -> dict:
    rng = np.random.default_rng(0)
    depth = (0.8 + 0.1 * rng.random((height, width))).astype(np.float32)
    masks = np.zeros((2, height, width), dtype=bool)
    masks[0, 2:6, 3:9] = True  # top-left object
    masks[1, 15:22, 20:31] = True  # bottom-right object
    depth[masks[0]] = 0.7
    depth[masks[1]] = 0.72
    return {"depth": depth, "instances": Instances(masks), "intrinsics": None, "image_id": image_id}


def boxes_of(masks: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(Instances(masks.numpy().astype(bool)).boxes_xyxy())


def test_model_input_is_three_identical_channels_in_unit_range():
    image = depth_to_model_input(make_sample()["depth"], "median_relative")
    assert image.shape == (3, 24, 32) and image.dtype == torch.float32
    assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0


@pytest.mark.parametrize("horizontal,vertical", [(True, False), (False, True), (True, True)])
def test_flip_moves_depth_masks_and_boxes_together(horizontal, vertical):
    sample = make_sample()
    image = depth_to_model_input(sample["depth"], "wisdom_fixed")
    target = instances_to_target(sample["instances"], 7)
    flipped_image, flipped = flip(image, target, horizontal, vertical)
    # Pixels under each flipped mask carry that object's depth code, as before the flip.
    for k in range(2):
        before = image[0][target["masks"][k].bool()].unique()
        after = flipped_image[0][flipped["masks"][k].bool()].unique()
        assert torch.equal(before, after) and before.numel() == 1
    assert torch.equal(flipped["boxes"], boxes_of(flipped["masks"]))
    assert not torch.equal(flipped["masks"], target["masks"])


def test_dataset_flips_are_really_applied_and_reproducible():
    sample = make_sample()
    dataset = DetectionDataset([sample], "median_relative", flips=True)
    torch.manual_seed(0)
    seen = {tuple(dataset[0][1]["boxes"][0].tolist()) for _ in range(40)}
    assert len(seen) == 4  # no flip, horizontal, vertical, both
    torch.manual_seed(3)
    first = [dataset[0][1]["boxes"] for _ in range(5)]
    torch.manual_seed(3)
    second = [dataset[0][1]["boxes"] for _ in range(5)]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_padding_keeps_content_top_left_and_rejects_too_large_images():
    sample = make_sample()
    image = depth_to_model_input(sample["depth"], "median_relative")
    target = instances_to_target(sample["instances"], 7)
    padded, padded_target = pad_bottom_right(image, target, 40)
    assert padded.shape == (3, 40, 40) and padded_target["masks"].shape == (2, 40, 40)
    assert torch.equal(padded[:, :24, :32], image) and float(padded[:, 24:, :].abs().sum()) == 0
    assert torch.equal(padded_target["boxes"], target["boxes"])
    with pytest.raises(DataError, match="pad_to"):
        pad_bottom_right(image, target, 16)


def test_empty_masks_are_dropped_from_targets_and_collate_makes_lists():
    sample = make_sample()
    masks = np.concatenate([sample["instances"].masks, np.zeros((1, 24, 32), bool)])
    target = instances_to_target(Instances(masks), 1)
    assert target["boxes"].shape == (2, 4) and target["labels"].tolist() == [1, 1]
    images, targets = collate_detection([(torch.zeros(3, 4, 4), target), (torch.ones(3, 4, 4), target)])
    assert isinstance(images, list) and len(images) == 2 and targets[1] is target


def test_unlabelled_or_mismatched_samples_are_rejected_with_the_image_named():
    sample = make_sample(image_id=42)
    unlabelled = dict(sample, instances=None, name="image_000042")
    with pytest.raises(DataError, match="image_000042.*no instance labels"):
        DetectionDataset([unlabelled], "median_relative")[0]
    mismatched = dict(sample, instances=Instances(np.zeros((1, 10, 10), bool)))
    with pytest.raises(DataError, match="masks are"):
        DetectionDataset([mismatched], "median_relative")[0]


def test_nested_subsets_for_dataset_size_sweeps():
    small = nested_subset_positions(100, 10, seed=5, what="data.train_size")
    large = nested_subset_positions(100, 40, seed=5, what="data.train_size")
    assert len(small) == 10 and len(large) == 40 and set(small) <= set(large)
    assert np.array_equal(small, nested_subset_positions(100, 10, seed=5, what="data.train_size"))
    with pytest.raises(DataError, match="only 100 images"):
        nested_subset_positions(100, 101, seed=5, what="data.train_size")



def test_datamodule_refuses_options_it_would_ignore(tmp_path):
    from sdmr.data.datamodule import DepthDataModule

    with pytest.raises(DataError, match="unknown input encoding"):
        DepthDataModule(str(tmp_path), input_encoding="raw")
    with pytest.raises(DataError, match="only applies to WISDOM datasets"):
        DepthDataModule(str(tmp_path), dataset="ocid", depth_source="png")
    module = DepthDataModule(str(tmp_path), dataset="ocid")  # the config's default depth_source=auto is fine
    assert "depth_source" not in module.dataset_kwargs
