"""A checkpoint with foreign pickled objects is refused with sdmr's security message, and nothing runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from sdmr.data.errors import DataError
from sdmr.model.checkpoint import read_model_file


class _Hostile:
    """Unpickling this would create ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


class _NotAllowlisted:
    def __init__(self) -> None:
        self.weights = torch.zeros(2)


def test_a_hostile_pickle_is_refused_for_security_and_does_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "code_ran"
    path = tmp_path / "hostile.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": _Hostile(marker)}, path)
    with pytest.raises(DataError, match="(?i)not loaded for security reasons") as err:
        read_model_file(path)
    message = str(err.value)
    assert "hostile.ckpt" in message and "mkdir" in message and "Fix:" in message
    assert "\n" not in message.split("Fix:")[0]  # one line, not torch's three paragraphs
    assert not marker.exists()


def test_an_object_of_a_class_outside_the_allowlist_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "object.pt"
    torch.save(_NotAllowlisted(), path)
    with pytest.raises(DataError, match="objects other than tensors.*_NotAllowlisted.*not loaded for security reasons"):
        read_model_file(path)
