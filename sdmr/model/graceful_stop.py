"""`GracefulStop`: Ctrl-C or SIGTERM during ``fit`` finishes the current step, writes
``last.ckpt`` at that step and stops, so the run resumes exactly with ``ckpt_path=...``.

Without it Lightning's own Ctrl-C handling ends the process with exit code 1 and no checkpoint
of the steps since the last validation (hours of steps, with ``val_check_interval`` large), and
SIGTERM (a cluster's time limit, ``docker stop``) kills the run outright.

The first signal sets a flag; at the end of the step in flight the callback saves
``<checkpoints>/last.ckpt`` (registered as ModelCheckpoint's last checkpoint, so resuming in the
same folder keeps writing ``last.ckpt``, never ``last-v1.ckpt``) and raises
:class:`TrainingStopped` (an ``Exception``: Lightning turns a ``KeyboardInterrupt`` into exit
code 1); ``sdmr.train`` re-raises it as :class:`~sdmr.errors.Interrupted`, whose hint names the
``ckpt_path=`` to resume from, and ``sdmr.cli.run_cli`` prints it and exits 130 (SIGINT) or 143
(SIGTERM). Validation is not run on the way out. A second signal stops at once (no checkpoint).
The handlers are active from the first training step to the end of ``fit``, then restored. One
process only: under DDP every rank must get the signal.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Printed (stderr) when training starts; tests wait for it before sending a signal.
READY_LINE = "sdmr.train: training; Ctrl-C (or SIGTERM) stops after the current step and saves last.ckpt"


def last_checkpoint_path(trainer: pl.Trainer) -> Path | None:
    """Where ModelCheckpoint keeps ``last.ckpt`` (``None`` when no such callback saves a last one)."""
    checkpoint = trainer.checkpoint_callback
    if not isinstance(checkpoint, pl.callbacks.ModelCheckpoint) or not checkpoint.dirpath:
        return None
    return Path(checkpoint.dirpath) / f"{checkpoint.CHECKPOINT_NAME_LAST}.ckpt"


def save_last(trainer: pl.Trainer, path: Path) -> None:
    """Save ``path`` and record it as ModelCheckpoint's last checkpoint (in the saved state too)."""
    checkpoint = trainer.checkpoint_callback
    if isinstance(checkpoint, pl.callbacks.ModelCheckpoint):
        checkpoint.last_model_path = str(path)  # before saving: the callback's state goes into the file
        checkpoint._last_global_step_saved = trainer.global_step  # so it does not save again
    trainer.save_checkpoint(str(path))


class TrainingStopped(Exception):
    """Raised out of ``fit`` by :class:`GracefulStop`; ``signum`` and ``hint`` for the exit."""

    def __init__(self, signum: int, hint: str):
        super().__init__(hint)
        self.signum = signum
        self.hint = hint


class GracefulStop(pl.Callback):
    """See the module docstring."""

    def __init__(self, announce: bool = True) -> None:
        self.signum: int | None = None
        self.announce = announce
        self._previous: dict[int, Any] = {}

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.signum is not None:  # the second one: stop now
            raise TrainingStopped(signum, "stopped at once by a second signal; no checkpoint of the current step")
        self.signum = signum
        for sig in SIGNALS:  # the next signal (either kind) interrupts at once
            signal.signal(sig, self._on_signal)
        print(f"\nsdmr.train: {signal.Signals(signum).name} received; finishing the current step, then saving "
              "last.ckpt (again to stop at once)", file=sys.stderr, flush=True)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # here, not in on_fit_start: Lightning installs its own SIGTERM handler between the two
        try:
            self._previous = {sig: signal.signal(sig, self._on_signal) for sig in SIGNALS}
        except ValueError:  # not the main thread: Lightning's default handling stays
            self._previous = {}
        if self.announce and trainer.is_global_zero:
            print(READY_LINE, file=sys.stderr, flush=True)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if self.signum is None:
            return
        path = last_checkpoint_path(trainer)
        if path is None:
            raise TrainingStopped(self.signum, f"stopped at step {trainer.global_step}; no checkpoint callback, "
                              "so nothing was saved")
        save_last(trainer, path)
        raise TrainingStopped(self.signum, f"stopped at step {trainer.global_step}; saved {path}. Resume with: "
                          f"ckpt_path={path} (same hydra.run.dir and settings)")

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
