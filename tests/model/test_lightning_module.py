"""LightningModule pieces that the end-to-end runs do not isolate."""

from __future__ import annotations

import pytest
import torch

from sdmr.data.errors import DataError
from sdmr.model.lightning_module import SDMaskRCNNModule, plain

TINY = {"anchor_sizes": [16, 32, 64, 128, 256], "box_batch_size_per_image": 16}


def _batch():
    masks = torch.zeros(1, 64, 64, dtype=torch.uint8)
    masks[0, 10:40, 12:44] = 1
    target = {
        "boxes": torch.tensor([[12.0, 10.0, 44.0, 40.0]]),
        "labels": torch.ones(1, dtype=torch.int64),
        "masks": masks,
    }
    return [torch.rand(3, 64, 64)], [target]


def test_non_finite_loss_raises_with_the_fix():
    torch.manual_seed(0)
    module = SDMaskRCNNModule(TINY)
    with torch.no_grad():
        module.model.roi_heads.box_predictor.cls_score.weight.fill_(float("nan"))
    module.train()
    with pytest.raises(FloatingPointError, match="non-finite training loss.*loss_classifier=nan.*lower"):
        module.training_step(_batch(), 0)


def test_hyperparameters_are_plain_data_and_encoding_is_checked():
    from omegaconf import OmegaConf

    module = SDMaskRCNNModule(OmegaConf.create(TINY), input_encoding="wisdom_fixed")
    assert (
        type(module.hparams.model_kwargs) is dict
        and type(module.hparams.model_kwargs["anchor_sizes"]) is list
    )
    assert module.hparams.input_spec == {"modality": "depth", "encoding": "wisdom_fixed", "channels": 1,
                                         "range": [0.0, 1.0]}
    assert plain(OmegaConf.create({"a": [1, {"b": 2}]})) == {"a": [1, {"b": 2}]}
    with pytest.raises(DataError, match="unknown input encoding"):
        SDMaskRCNNModule(TINY, input_encoding="minmax")


def test_default_optimiser_is_the_papers_sgd():
    optimizer = SDMaskRCNNModule(TINY).configure_optimizers()
    group = optimizer.param_groups[0]
    assert isinstance(optimizer, torch.optim.SGD)
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.01, 0.9, 1e-4)


def test_validation_counts_each_image_once():
    """DDP pads the validation split with repeats; repeated image ids must not count twice."""
    torch.manual_seed(0)
    module = SDMaskRCNNModule(TINY).eval()
    images, targets = _batch()
    targets[0]["image_id"] = torch.tensor(7)
    with torch.no_grad():
        module.validation_step((images, targets), 0)
        module.validation_step((images, targets), 1)
    module.evaluator.gather_state()
    gathered = module.evaluator.state()
    assert [record["image"]["id"] for record in gathered] == [7]
    assert (gathered[0]["image"]["height"], gathered[0]["image"]["width"], len(gathered[0]["annotations"])) == (64, 64, 1)
