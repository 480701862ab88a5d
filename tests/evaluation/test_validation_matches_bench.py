"""Training validation and sdmr-bench score a checkpoint with one evaluator: the same AP, exactly."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from sdmr.bench.harness import BenchConfig, run_benchmark
from sdmr.data.datamodule import DepthDataModule
from sdmr.data.toy import make_toy_dataset
from sdmr.model.lightning_module import VAL_METRICS, SDMaskRCNNModule

#: An untrained model's low scores still give detections at threshold 0, 100 per image.
TINY_KWARGS = {"anchor_sizes": [16, 32, 64, 128, 256], "box_score_thresh": 0.0, "box_detections_per_img": 100}


@pytest.fixture(scope="module")
def checkpoint_and_val(tmp_path_factory):
    root = make_toy_dataset(tmp_path_factory.mktemp("toy"), num_images=12, height=96, width=128, seed=3)
    torch.manual_seed(0)
    module = SDMaskRCNNModule(model_kwargs=TINY_KWARGS)
    with torch.no_grad():  # untrained, but with some true positives, so the APs compared are not 0 = 0:
        for layer in (module.model.rpn.head.bbox_pred, module.model.roi_heads.box_predictor.bbox_pred):
            layer.weight.zero_()  # boxes = anchors (of every size and aspect) ...
            layer.bias.zero_()
        logits = module.model.roi_heads.mask_predictor.mask_fcn_logits
        logits.weight.zero_()  # ... and each mask fills its box
        logits.bias.fill_(10.0)
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )
    # one image a batch, unpadded: the model sees each image exactly as sdmr-segment/sdmr-bench feed it
    data = DepthDataModule(str(root), batch_size=1, num_workers=0, pad_to=None, val_split="test")
    (logged,) = trainer.validate(module, datamodule=data, verbose=False)
    path = tmp_path_factory.mktemp("ckpt") / "last.ckpt"
    trainer.save_checkpoint(path)
    assert all(logged[f"val/{key}"] == np.float32(module.val_metrics[key]) for key in VAL_METRICS)  # logged as float32
    return root, path, module.val_metrics


def test_validation_ap_equals_sdmr_bench_ap(checkpoint_and_val, tmp_path):
    root, checkpoint, validation = checkpoint_and_val
    config = BenchConfig(
        dataset=str(root), output=str(tmp_path / "run"), methods=["sdmr"], split="test",
        # Segmenter settings that add nothing validation does not do: every detection, no resize, no trim
        params=[f"checkpoint={checkpoint}", "score_threshold=0", "input_scale=1.0", "trim_below_height=0",
                "surface_ratio=0"],
        num_overlays=0, show_progress=False,
    )
    bench = run_benchmark(config)["methods"]["sdmr"]
    assert bench["num_images"] == 3 and bench["num_failed"] == 0
    assert validation["AP50"] > 0 and validation["AR"] > 0  # not a comparison of two empty results
    for key in VAL_METRICS:
        assert validation[key] == bench[key], key
