"""SD Mask R-CNN: model builder, checkpoints, LightningModule and inference."""

from sdmr.model.builder import build_sdmask_rcnn

__all__ = ["build_sdmask_rcnn"]
