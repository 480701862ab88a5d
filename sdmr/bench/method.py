"""The Method plugin protocol: depth (+ colour) in, `Instances` out.

The harness knows nothing about a method beyond this. A method is a class with a ``name``,
a ``Params`` dataclass whose defaults are the paper's values, and ``predict``; ``fit`` is
optional (tuning or fine-tuning on a training split). Third-party packages register a
method under the entry-point group ``sdmr.methods``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from sdmr.data.instances import Instances
from sdmr.data.sample import Sample


@runtime_checkable
class Method(Protocol):
    """What ``sdmr-bench`` calls. ``predict`` must return masks of the sample's depth size."""

    name: ClassVar[str]
    summary: ClassVar[str]

    def fit(self, train: Sequence[Sample], cfg: Any | None = None) -> None: ...

    def predict(self, sample: Sample) -> Instances: ...


@dataclass(frozen=True)
class FitConfig:
    """What the harness tells ``fit``: where to keep what it learned (the method's run folder,
    ``<run>/methods/<name>``), so a later run can load it (e.g. ``--param params_file=...``)."""

    output_dir: Path | None = None


@dataclass
class NoParams:
    """Parameters of a method that has none."""


class BaseMethod:
    """Convenience base: stores a ``Params`` dataclass and makes ``fit`` a no-op.

    Subclasses set ``name``, ``summary``, ``Params`` and implement ``predict``.
    ``Method(**overrides)`` replaces individual parameters, ``Method(params=P(...))`` all.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams

    def __init__(self, params: Any | None = None, **overrides: Any) -> None:
        base = params if params is not None else self.Params()
        if overrides:
            from dataclasses import replace

            base = replace(base, **overrides)
        self.params = base

    def fit(self, train: Sequence[Sample], cfg: Any | None = None) -> None:
        """Methods without tuning have nothing to learn."""

    def predict(self, sample: Sample) -> Instances:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.predict is not implemented")
