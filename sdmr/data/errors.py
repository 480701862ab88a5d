"""Errors with a file and a fix: every bad input the user can cause ends up here."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A problem with user data. The message names the offending file and how to fix it."""

    def __init__(self, problem: str, path: str | Path | None = None, fix: str | None = None):
        self.problem = problem
        self.path = None if path is None else Path(path)
        self.fix = fix
        parts = [f"{self.path}: {problem}" if self.path is not None else problem]
        if fix:
            parts.append(f"Fix: {fix}")
        super().__init__(" ".join(parts))
