"""`SDMaskRCNNModule`: training, COCO-AP validation and checkpoints for SD Mask R-CNN.

Hyper-parameters hold only plain data (the builder's arguments and the input spec), so a
checkpoint opens with ``torch.load(..., weights_only=True)`` and ``load_from_checkpoint``
rebuilds the identical model. The optimiser and scheduler are Hydra ``_partial_`` factories;
they are not stored (they hold functions), and their config lives in the run's Hydra config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch.optim import SGD, Optimizer

from sdmr.data.input_spec import InputSpec
from sdmr.data.input_spec import input_spec as parse_input_spec
from sdmr.data.instances import Instances
from sdmr.evaluation import COCO_METRIC_KEYS, CocoEvaluator
from sdmr.model.builder import build_sdmask_rcnn
from sdmr.model.checkpoint import load_weights
from sdmr.model.inference import detections_to_instances

Batch = tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]
VAL_METRICS = COCO_METRIC_KEYS


def plain(value: Any) -> Any:
    """OmegaConf containers → dicts/lists, so hyper-parameters unpickle with weights_only=True."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class SDMaskRCNNModule(pl.LightningModule):
    """Mask R-CNN training loop pieces; the model itself comes from ``build_sdmask_rcnn``.

    Args:
        model_kwargs: arguments of :func:`sdmr.model.build_sdmask_rcnn` (stored in the checkpoint).
        input_encoding: the input the data used — a depth encoding name, ``"color"``, or an
            :class:`~sdmr.data.input_spec.InputSpec` (or its dict); stored as ``input_spec``.
        input_spec: the same, as stored in checkpoints (wins over ``input_encoding``; what
            ``load_from_checkpoint`` passes back).
        optimizer: ``partial`` taking ``params``; default SGD lr 0.01, momentum 0.9, wd 1e-4.
        scheduler: ``partial`` taking ``optimizer`` and ``total_steps``; stepped every iteration.
        init_weights: weights file loaded before training starts (not when resuming), e.g. a
            torchvision COCO state_dict for the fine-tuned baselines.
        val_score_threshold: predictions below this score are not evaluated.
        train_focal_px: focal length (pixels) of the training images as the network saw them;
            stored so inference can rescale other cameras' frames to match (``input_scale="auto"``).
            ``python -m sdmr.train`` measures it from the dataset when left ``None``.
    """

    def __init__(
        self,
        model_kwargs: dict[str, Any] | None = None,
        input_encoding: str | InputSpec | dict[str, Any] = "median_relative",
        optimizer: Callable[..., Optimizer] | None = None,
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        init_weights: str | None = None,
        val_score_threshold: float = 0.0,
        train_focal_px: float | None = None,
        input_spec: InputSpec | dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        spec = parse_input_spec(plain(input_spec if input_spec is not None else input_encoding))
        self.input_spec = spec
        model_kwargs = plain(model_kwargs) or {}
        self.save_hyperparameters(
            {
                "model_kwargs": model_kwargs,
                "input_spec": spec.to_dict(),
                "init_weights": None if init_weights is None else str(init_weights),
                "val_score_threshold": float(val_score_threshold),
                "train_focal_px": None if train_focal_px is None else float(train_focal_px),
            }
        )
        self.model = build_sdmask_rcnn(**model_kwargs)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.evaluator = CocoEvaluator()  # the same COCO evaluation as sdmr-bench's
        self.val_metrics: dict[str, float] = {}  # the last validation's COCO numbers

    # ----------------------------------------------------------------- setup
    def setup(self, stage: str) -> None:
        init = self.hparams.get("init_weights")
        if stage == "fit" and init and self.trainer is not None and self.trainer.ckpt_path is None:
            reinitialised = load_weights(self.model, init)
            if reinitialised:
                print(f"sdmr: loaded {init}; re-initialised predictor layers {reinitialised}")

    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        if self.optimizer_factory is None:
            optimizer = SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
        else:
            optimizer = self.optimizer_factory(params=params)
        if self.scheduler_factory is None:
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer=optimizer, total_steps=total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # -------------------------------------------------------------- training
    def forward(self, images: list[torch.Tensor], targets: list[dict] | None = None) -> Any:
        return self.model(images, targets)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        images, targets = batch
        losses = self.model(images, targets)
        loss = torch.stack(list(losses.values())).sum()
        if not torch.isfinite(loss):
            parts = ", ".join(f"{k}={v.item():.4g}" for k, v in losses.items())
            raise FloatingPointError(
                f"non-finite training loss at step {self.global_step} ({parts}). Fix: lower "
                "model.optimizer.lr or lengthen model.scheduler.warmup_iters, keep "
                "trainer.gradient_clip_val set, and check the batch's depth for bad values"
            )
        batch_size = len(images)
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items()}, batch_size=batch_size)
        self.log("train/loss", loss.detach(), prog_bar=True, batch_size=batch_size)
        return loss

    # ------------------------------------------------------------ validation
    def on_validation_epoch_start(self) -> None:
        self.evaluator.reset()

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        images, targets = batch
        outputs = self.model(images)
        threshold = self.hparams.val_score_threshold
        inputs = [
            {"image_id": int(t["image_id"]), "instances": Instances(masks=t["masks"].bool().cpu().numpy())}
            for t in targets
        ]
        self.evaluator.process(inputs, [detections_to_instances(o, threshold) for o in outputs])

    def on_validation_epoch_end(self) -> None:
        """COCO AP over every rank's images, each once (DDP pads the split with repeats, which
        the evaluator keeps by image id), logged identically on all ranks."""
        self.evaluator.gather_state()
        if not len(self.evaluator):
            return
        metrics = self.val_metrics = self.evaluator.evaluate()  # full precision (the logged values are float32)
        for key in VAL_METRICS:
            self.log(
                f"val/{key}", float(metrics[key]), prog_bar=key == "AP", sync_dist=False, rank_zero_only=False
            )
        self.evaluator.reset()
