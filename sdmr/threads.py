"""One setting for CPU compute threads: ``SDMR_THREADS``.

Why one setting, and why the default is small: an OpenMP/oneDNN pool with as many threads as cores
collapses as soon as anything else runs on one of those cores — its threads wait for the slowest
one at every operator. Measured on 2 cores with one other busy process: a training step took
5.7–10 s with 2 torch threads against 1.2 s with 1, and 2-thread inference ran 2–3× slower than
1-thread inference (docs/deployment.md). A robot's computer, a training run with DataLoader workers,
or the generator's processes are exactly such shared machines.

So every compute pool sdmr creates takes its size from :func:`compute_threads`:

* ``SDMR_THREADS=N`` when set (N ≥ 1);
* else ``OMP_NUM_THREADS`` when set (torch reads it anyway; sdmr does not override it);
* else half the cores this process may use, at least 1 (1 on a 2-core machine).

Users: training (``python -m sdmr.train``: torch's intra-op pool), inference (``Segmenter`` with
``num_threads=None``: torch, ONNX Runtime or OpenVINO). DataLoader workers, harness workers and
generator processes use one thread each already (processes, not threads, scale those).
"""

from __future__ import annotations

import os

from sdmr.errors import ConfigError

THREADS_ENV = "SDMR_THREADS"


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _parse(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name}={text!r} is not a thread count", fix=f"set {name} to a whole number ≥ 1, or unset it")
    return value


def compute_threads() -> int:
    """Threads for one compute pool: ``SDMR_THREADS``, else ``OMP_NUM_THREADS``, else half the cores (≥ 1)."""
    for name in (THREADS_ENV, "OMP_NUM_THREADS"):
        text = os.environ.get(name, "").strip()
        if text:
            return _parse(name, text)
    return max(1, available_cores() // 2)
