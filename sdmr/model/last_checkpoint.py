"""``LastCheckpoint``: a ``ModelCheckpoint`` whose ``last.ckpt`` follows every validation.

Lightning 2.6 writes ``last.ckpt`` only when the monitored metric improved (a top-k save happened
at that step). A run whose validation AP stalls for a while then keeps an old ``last.ckpt``, and a
resume after a kill silently repeats hours of steps (seen: the file stayed at step 400 while the
run was at step 600). Here, after the usual top-k logic, ``last.ckpt`` is written whenever that
validation did not already save this step.
"""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint


class LastCheckpoint(ModelCheckpoint):
    """See the module docstring; every ``ModelCheckpoint`` argument works as usual."""

    @property
    def state_key(self) -> str:
        # ModelCheckpoint's key, so runs checkpointed before this class existed resume with their best score
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self.save_last or self._should_skip_saving_checkpoint(trainer):
            return  # nothing asked for, or this step is saved already (sanity check, non-fit, ...)
        if self._should_save_on_train_epoch_end(trainer):
            return  # per-epoch checkpointing: ModelCheckpoint saves last at the epoch end itself
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
