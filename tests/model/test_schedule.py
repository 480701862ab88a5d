from __future__ import annotations

import pytest
import torch

from sdmr.data.errors import DataError
from sdmr.model.schedule import lr_factor, warmup_schedule


def test_warmup_then_step_decay_for_the_last_fifth():
    assert lr_factor(0, 1000) == pytest.approx(0.001)
    assert lr_factor(100, 1000) == pytest.approx(0.5005)
    assert lr_factor(200, 1000) == 1.0 and lr_factor(799, 1000) == 1.0
    assert lr_factor(800, 1000) == pytest.approx(0.1)


def test_cosine_decays_to_min_factor():
    assert lr_factor(200, 1200, kind="cosine") == pytest.approx(1.0)
    assert lr_factor(700, 1200, kind="cosine") == pytest.approx(0.5)
    assert lr_factor(1200, 1200, kind="cosine", min_factor=0.05) == pytest.approx(0.05)


def test_scheduler_steps_the_optimiser_lr_and_rejects_unknown_kinds():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
    sched = warmup_schedule(opt, total_steps=10, warmup_iters=2, milestones=[0.5])
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(1e-5) and lrs[2] == pytest.approx(0.01) and lrs[5] == pytest.approx(0.001)
    with pytest.raises(DataError, match="unknown lr schedule"):
        warmup_schedule(opt, 10, kind="exp")
