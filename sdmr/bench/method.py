"""The Method plugin protocol: depth (+ colour) in, `Instances` out.

The harness knows nothing about a method beyond this. A method is a class with a ``name``,
a ``Params`` dataclass whose defaults are the paper's values, and ``predict``; ``fit`` is
optional (tuning or fine-tuning on a training split). Third-party packages register a
method under the entry-point group ``sdmr.methods``.

Three optional hooks, all with no-op defaults in :class:`BaseMethod` (the harness uses them when present):

* ``inputs`` – the sample fields beyond depth the method reads (``("color",)``), so the harness
  loads them (colour images are not read otherwise);
* ``check_ready(sample, fitting)`` – refuse, before any work, a run that cannot succeed (no colour
  images, no weights); it sees the first sample of the split the method will first read;
* ``result_notes()`` – facts about what was run that belong beside its numbers in ``results.json``
  and the table (e.g. ``{"pretrained": False}``), asked after ``fit``.
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
    inputs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Any | None = None, **overrides: Any) -> None:
        base = params if params is not None else self.Params()
        if overrides:
            from dataclasses import replace

            base = replace(base, **overrides)
        self.params = base

    def fit(self, train: Sequence[Sample], cfg: Any | None = None) -> None:
        """Methods without tuning have nothing to learn."""

    def check_ready(self, sample: Sample, fitting: bool) -> None:
        """Raise a ``ConfigError``/``DataError`` if a run on samples like ``sample`` cannot work."""

    def result_notes(self) -> dict[str, Any]:
        """Facts stored beside the method's metrics (none by default)."""
        return {}

    def predict(self, sample: Sample) -> Instances:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.predict is not implemented")
