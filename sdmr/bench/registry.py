"""Find methods through the ``sdmr.methods`` entry-point group and build them from CLI strings.

Why entry points: a third-party package adds a method by installing itself, with no change
here (the pytest-plugin pattern). A plugin that fails to import becomes a warning naming it,
so one broken package never hides the others from ``sdmr-bench --list``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
import warnings
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from sdmr.errors import ConfigError

ENTRY_POINT_GROUP = "sdmr.methods"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_NONE = {"none", "null"}


class PluginLoadWarning(UserWarning):
    """A registered method could not be imported; the message names the plugin and the error."""


class MethodNotFound(ConfigError, LookupError):
    """An unknown method name; the message lists the known ones and the closest match."""

    def __str__(self) -> str:  # LookupError would print the repr of the message
        return str(self.args[0])


class ParameterError(ConfigError):
    """A ``--param`` that names no field or whose value does not parse as the field's type."""


@dataclass(frozen=True)
class MethodSpec:
    """A discovered method: its registered name, where it comes from, and its class."""

    name: str
    target: str
    cls: type

    @property
    def summary(self) -> str:
        return str(getattr(self.cls, "summary", "") or "")

    def parameters(self) -> list[tuple[str, Any, Any]]:
        """``(name, type, default)`` of every field of the method's ``Params`` dataclass."""
        params_cls = getattr(self.cls, "Params", None)
        if params_cls is None or not dataclasses.is_dataclass(params_cls):
            return []
        hints = typing.get_type_hints(params_cls)
        rows = []
        for f in dataclasses.fields(params_cls):
            if f.default is not dataclasses.MISSING:
                default: Any = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = "(required)"
            rows.append((f.name, hints.get(f.name, f.type), default))
        return rows


def _type_name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


def _entry_points() -> list[EntryPoint]:
    return sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def method_names() -> list[str]:
    """Registered names, without importing any plugin."""
    return sorted({ep.name for ep in _entry_points()})


def discover_methods() -> dict[str, MethodSpec]:
    """Import every registered method; a failing plugin is skipped with a `PluginLoadWarning`."""
    found: dict[str, MethodSpec] = {}
    for ep in _entry_points():
        spec = _load(ep)
        if spec is not None:
            found.setdefault(ep.name, spec)
    return found


def _load(ep: EntryPoint) -> MethodSpec | None:
    try:
        cls = ep.load()
    except Exception as err:  # noqa: BLE001 - any import-time error of third-party code
        warnings.warn(
            f"sdmr.methods plugin {ep.name!r} ({ep.value}) failed to load: {type(err).__name__}: {err}",
            PluginLoadWarning,
            stacklevel=3,
        )
        return None
    if not (isinstance(cls, type) and callable(getattr(cls, "predict", None))):
        warnings.warn(
            f"sdmr.methods plugin {ep.name!r} ({ep.value}) is not a class with a predict() method",
            PluginLoadWarning,
            stacklevel=3,
        )
        return None
    return MethodSpec(name=ep.name, target=ep.value, cls=cls)


def _closest(name: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.4)
    return f" Did you mean {match[0]!r}?" if match else ""


def get_method(name: str) -> MethodSpec:
    """The spec registered under ``name``; `MethodNotFound` lists the names and the closest one."""
    matches = [ep for ep in _entry_points() if ep.name == name]
    for ep in matches:
        spec = _load(ep)
        if spec is not None:
            return spec
    known = method_names()
    if matches:
        raise MethodNotFound(f"method {name!r} is registered but failed to load (see the warning above)")
    raise MethodNotFound(
        f"unknown method {name!r}.{_closest(name, known)} Available: {', '.join(known) or '(none)'}. "
        f"Methods register under the entry-point group {ENTRY_POINT_GROUP!r}."
    )


def parse_value(text: str, tp: Any, what: str) -> Any:
    """Convert CLI text to ``tp`` (int, float, bool, str, Optional, Literal, tuple/list of those).

    Never ``eval``: only these types are understood, anything else is an error.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if text.strip().lower() in _NONE and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return parse_value(text, option, what)
            except ParameterError:
                continue
        raise ParameterError(f"{what}: {text!r} matches none of {_type_name(tp)}")
    if origin is typing.Literal:
        for option in args:
            if str(option) == text:
                return option
        raise ParameterError(f"{what}: {text!r} is not one of {list(args)}")
    if origin in (tuple, list):
        parts = [p.strip() for p in text.split(",") if p.strip()]
        item = args[0] if args else str
        values = [parse_value(p, item, what) for p in parts]
        return tuple(values) if origin is tuple else values
    if tp is bool:
        low = text.strip().lower()
        if low in _TRUE | _FALSE:
            return low in _TRUE
        raise ParameterError(f"{what}: {text!r} is not a boolean (use true/false)")
    if tp in (int, float, str):
        try:
            return tp(text)
        except ValueError:
            raise ParameterError(f"{what}: {text!r} is not a valid {tp.__name__}") from None
    raise ParameterError(f"{what}: parameters of type {_type_name(tp)} cannot be set from the command line")


def parse_overrides(spec: MethodSpec, assignments: list[str]) -> dict[str, Any]:
    """``["name=value", ...]`` → typed keyword arguments for the method's ``Params``."""
    fields = {name: tp for name, tp, _ in spec.parameters()}
    parsed: dict[str, Any] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(f"--param {item!r}: write name=value")
        if key not in fields:
            raise ParameterError(
                f"method {spec.name!r} has no parameter {key!r}.{_closest(key, list(fields))} "
                f"Parameters: {', '.join(fields) or '(none)'}"
            )
        parsed[key] = parse_value(value, fields[key], f"{spec.name}.{key}")
    return parsed


def build_method(name: str, assignments: list[str] | None = None) -> Any:
    """Look up ``name`` and instantiate it with ``--param`` overrides applied."""
    spec = get_method(name)
    overrides = parse_overrides(spec, assignments or [])
    return spec.cls(**overrides)


def describe(spec: MethodSpec) -> str:
    """The ``--list`` entry of one method: name, summary, parameters with defaults."""
    lines = [f"{spec.name}  ({spec.target})", f"    {spec.summary or '(no summary)'}"]
    for pname, ptype, default in spec.parameters():
        lines.append(f"    --param {pname}={default!r}  [{_type_name(ptype)}]")
    return "\n".join(lines)
