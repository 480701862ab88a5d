"""``ResumableCSVLogger``: Lightning's CSV logger, but a resumed run appends to ``metrics.csv``.

Lightning's writer deletes an existing ``metrics.csv`` when a run starts in the same folder, so
resuming a run (``ckpt_path=.../last.ckpt``, same ``hydra.run.dir``) threw away the training curve
of every step before the resume (seen on a 1,200-step run resumed to 1,600). Here the old rows
are kept: the header grows if new keys appear, and the new rows follow the old ones. Rows logged
after the checkpoint the run resumed from appear twice (once from the killed run, once again);
readers that want one value per step keep the last.
"""

from __future__ import annotations

import csv

from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter


class _AppendingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):  # keep it; start from its header, so appends line up
            with self._fs.open(self.metrics_file_path, "r", newline="") as handle:
                self.metrics_keys = list(csv.DictReader(handle).fieldnames or [])


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` (same arguments) whose ``metrics.csv`` survives a resume in the same folder."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
