"""One error taxonomy: every mistake a user can make is an ``SdmrError`` with a one-line message.

``SdmrError`` (a ``ValueError``, so ``except ValueError`` and ``pytest.raises(ValueError)`` keep
working) has three kinds:

* ``DataError`` - a problem with the user's data (a file, a folder, a dataset);
* ``ConfigError`` - a setting that cannot work (a command-line flag, a Hydra key, a method
  parameter, an unknown protocol or backend);
* ``OutputError`` - an output path that cannot be written or would overwrite something.

Before this module every user error was a ``DataError``, and code (and tests) written then say
``except DataError``. So ``ConfigError`` and ``OutputError`` are *also* ``DataError`` subclasses:
old handlers keep catching them, while new code can tell the three apart by catching the
specific class (``except ConfigError``) or all of them (``except SdmrError``).

Each carries the offending ``path`` (if any) and a ``fix``; ``str(err)`` is ``"PATH: problem Fix: fix"``.
The command-line runner (``sdmr.cli.run_cli``) prints exactly that line and exits 2.
"""

from __future__ import annotations

from pathlib import Path


class SdmrError(ValueError):
    """A mistake the user can fix. The message names the offending file/argument and how to fix it."""

    def __init__(self, problem: str, path: str | Path | None = None, fix: str | None = None):
        self.problem = problem
        self.path = None if path is None else Path(path)
        self.fix = fix
        parts = [f"{self.path}: {problem}" if self.path is not None else problem]
        if fix:
            parts.append(f"Fix: {fix}")
        super().__init__(" ".join(parts))

    def __reduce__(self):  # picklable across worker processes with its three parts
        return (type(self), (self.problem, self.path, self.fix))


class DataError(SdmrError):
    """A problem with user data. The message names the offending file and how to fix it."""


class ConfigError(DataError):
    """A setting (flag, config key, method parameter) that cannot work."""


class OutputError(DataError):
    """An output path that cannot be written, or that would overwrite something that is not ours."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM: the command stops; ``hint`` says what was kept and how to resume."""

    def __init__(self, signum: int, hint: str | None = None):
        super().__init__(signum, hint)
        self.signum = signum
        self.hint = hint
