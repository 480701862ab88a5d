"""Suite-wide test settings: the test pyramid's markers (registered in pyproject.toml).

- ``slow``: a test that takes more than ~10 s on the 2-core development machine (end-to-end training
  runs, DDP, Hydra sweeps, signals sent to running CLIs, the bundled model on rendered scenes, a
  pip-installed plugin). ``pytest -m "not slow"`` is the fast local selection; the full suite
  (``bash scripts/test.sh``) is what CI runs.
- ``gpu``: needs a CUDA device; skipped, with the reason, where torch sees none.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    import torch  # only when a gpu test was collected: keeps collection of the rest torch-free

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in gpu_items:
        item.add_marker(skip)
