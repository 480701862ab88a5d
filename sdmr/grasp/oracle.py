"""``oracle``: the simulator's ground-truth modal masks, the upper bound of every method — not a method.

It goes through the same ``predict(sample)`` as every plugin; what differs is only where its
masks come from: the `TrialWorld` that built the trial, which hands them over for its current
trial and refuses any other sample. It is not registered under ``sdmr.methods`` (``sdmr-bench``
has no simulator to ask), and every table labels it as the upper bound.
"""

from __future__ import annotations

from collections.abc import Callable

from sdmr.bench.method import BaseMethod
from sdmr.data.instances import Instances
from sdmr.data.sample import Sample

ORACLE = "oracle"
ORACLE_LABEL = "oracle (ground-truth masks: upper bound)"


class Oracle(BaseMethod):
    name = ORACLE
    summary = "ground-truth modal masks from the simulator (sdmr-grasp only): the upper bound, not a method"

    def __init__(self, truth: Callable[[Sample], Instances]) -> None:
        super().__init__()
        self._truth = truth

    def predict(self, sample: Sample) -> Instances:
        return self._truth(sample)
