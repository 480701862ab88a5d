"""Callbacks ``ModelCheckpoint`` lacks for our runs."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl

LAST_NAME = "last.ckpt"


class SaveLastOnTrainEnd(pl.Callback):
    """Write ``last.ckpt`` when training ends, wherever it ends.

    ``ModelCheckpoint`` saves after validation; a run stopped by ``max_steps`` between two
    validations would otherwise lose its last steps and could not be resumed exactly.
    """

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.global_step == 0:
            return
        trainer.save_checkpoint(self.dirpath / LAST_NAME)
