"""last.ckpt follows every validation, also when the monitored metric did not improve."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from sdmr.model.last_checkpoint import LastCheckpoint


class StalledModel(pl.LightningModule):
    """A real (tiny) model whose validation metric never improves after the first validation."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, _index):
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, _index):
        self.log("val/AP", 0.0)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class LastOnDisk(pl.Callback):
    """Records the step stored in last.ckpt at the start of each training step."""

    def __init__(self, path: Path) -> None:
        self.path, self.seen = path, []

    def on_train_batch_start(self, trainer, *_args) -> None:
        if self.path.is_file():
            self.seen.append(torch.load(self.path, map_location="cpu", weights_only=True)["global_step"])


def _fit(tmp_path: Path, checkpoint_class: type[ModelCheckpoint]) -> list[int]:
    folder = tmp_path / checkpoint_class.__name__
    checkpoint = checkpoint_class(dirpath=folder, monitor="val/AP", mode="max", save_top_k=1, save_last=True)
    probe = LastOnDisk(folder / "last.ckpt")
    data = DataLoader(TensorDataset(torch.ones(8, 2)), batch_size=1)
    trainer = pl.Trainer(max_steps=6, val_check_interval=2, limit_val_batches=1, callbacks=[checkpoint, probe],
                         logger=False, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(StalledModel(), train_dataloaders=data, val_dataloaders=data)
    return probe.seen


def test_last_ckpt_is_written_at_every_validation_even_without_improvement(tmp_path):
    assert _fit(tmp_path, LastCheckpoint) == [2, 2, 4, 4]  # validations at steps 2, 4 (and 6)
    assert _fit(tmp_path, ModelCheckpoint) == [2, 2, 2, 2]  # Lightning's own: stuck at the last improvement


def test_resume_keeps_model_checkpoint_state_key():
    ours = LastCheckpoint(monitor="val/AP", mode="max", save_last=True)
    theirs = ModelCheckpoint(monitor="val/AP", mode="max", save_last=True)
    assert ours.state_key == theirs.state_key
