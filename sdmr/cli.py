"""One way every command ends: ``run_cli(main_fn, prog)``.

Every console script (``sdmr-generate``, ``sdmr-data``, ``sdmr-bench``, ``sdmr-segment``) and
``python -m sdmr.train`` run their work through :func:`run_cli`, so they all end the same way:

* a user mistake - an :class:`~sdmr.errors.SdmrError`, an ``OSError`` (permission denied, a
  folder where a file should be, a read-only folder, a full disk), or either of them wrapped by
  another exception as its ``__cause__`` (Hydra's ``InstantiationException``) - prints ONE line,
  ``prog: error: ...``, and exits 2, without a traceback;
* Ctrl-C (``KeyboardInterrupt``) exits 130 and SIGTERM exits 143, each with a one-line hint
  (what was kept, how to resume);
* anything else is a bug and keeps its traceback;
* ``SDMR_DEBUG=1`` re-raises everything, for a traceback of a user error too.

Worker processes call :func:`ignore_sigint_in_worker` so that only the parent reports Ctrl-C.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

from sdmr.errors import Interrupted, SdmrError

RESUME_HINT = "interrupted; data written so far is safe - rerun the same command to resume"
DEBUG_ENV = "SDMR_DEBUG"
#: What to do about an OSError, by errno.
_OS_FIXES = {
    errno.EACCES: "check the permissions of this path, or choose another one",
    errno.EPERM: "check the permissions of this path, or choose another one",
    errno.EROFS: "the file system is read-only: choose a writable path",
    errno.ENOSPC: "the disk is full: free space or choose another path",
    errno.EISDIR: "a folder stands where a file is needed: pass a file path",
    errno.ENOTDIR: "a file stands where a folder is needed: pass a folder, or remove/rename the file",
    errno.ENOENT: "check the path",
    errno.EEXIST: "choose another path, or remove the existing one",
}


def debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def user_error(err: BaseException, extra: tuple[type[BaseException], ...] = ()) -> BaseException | None:
    """The user mistake behind ``err`` (itself or along its ``__cause__`` chain), else ``None``."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, (SdmrError, OSError, *extra)):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None


def format_error(err: BaseException) -> str:
    """One line: an SdmrError's own message; an OSError as ``PATH: reason Fix: ...``."""
    if isinstance(err, OSError) and not isinstance(err, SdmrError):
        where = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
        reason = err.strerror or str(err) or type(err).__name__
        text = f"{where}: {reason}" if where else reason
        fix = _OS_FIXES.get(err.errno)
        return f"{text} Fix: {fix}" if fix else text
    return " ".join(str(err).split("\n")[0].split()) or type(err).__name__


def _raise_interrupted(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`~sdmr.errors.Interrupted` (a ``KeyboardInterrupt``)."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def ignore_sigint_in_worker() -> None:
    """For pool workers: ignore Ctrl-C (the parent reports it and stops the pool) and die on SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def interrupt_exit_code(err: KeyboardInterrupt) -> int:
    return 128 + (err.signum if isinstance(err, Interrupted) else signal.SIGINT)


def run_cli(
    main_fn: Callable[[], int | None],
    prog: str,
    hint: str = RESUME_HINT,
    user_errors: tuple[type[BaseException], ...] = (),
    stream: TextIO | None = None,
) -> int:
    """Run ``main_fn()`` and turn how it ends into an exit code (see the module docstring).

    ``hint``: the line printed after Ctrl-C/SIGTERM (an ``Interrupted`` with its own hint wins).
    ``user_errors``: more exception types that are the user's to fix (printed like an SdmrError).
    ``stream``: where the one error line goes (default stderr).
    """
    out = sys.stderr if stream is None else stream
    try:
        with sigterm_raises():
            code = main_fn()
    except KeyboardInterrupt as err:
        if debug():
            raise
        code = interrupt_exit_code(err)
        name = "SIGTERM" if code == 128 + signal.SIGTERM else "Ctrl-C"
        hint_text = (err.hint if isinstance(err, Interrupted) else None) or hint
        print(f"\n{prog}: {name}: {hint_text}", file=sys.stderr, flush=True)
        return code
    except SystemExit:
        raise
    except Exception as err:
        cause = user_error(err, user_errors)
        if cause is None or debug():
            raise
        print(f"{prog}: error: {format_error(cause)}", file=out, flush=True)
        return 2
    return 0 if code is None else int(code)


def check_output_dir(path: str | os.PathLike, option: str, markers: tuple[str, ...] = (),
                     what: str = "an earlier run of this command") -> None:
    """Refuse, before anything is written, an output folder that cannot be ours.

    An existing file where the folder should be, a folder (or its nearest existing parent) that
    is not writable, or - when ``markers`` are given - an existing non-empty folder holding none of
    them (so not ``what``) is an ``OutputError`` naming the path and ``option``.
    """
    from pathlib import Path

    from sdmr.errors import OutputError

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError("is a file, not a folder", folder, f"pass a folder path to {option} (or move the file)")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError("folder is not writable", existing,
                          f"choose a writable {option} (or make it writable: chmod u+w)")
    if not existing.is_dir():
        raise OutputError("is a file, not a folder", existing, f"pass a {option} path whose parents are folders")
    if markers and folder.is_dir():
        entries = [p.name for p in folder.iterdir() if p.name != ".sdmr.lock"]
        if entries and not any(name in entries for name in markers):
            raise OutputError(f"the folder already holds files that are not {what} (e.g. {min(entries)})",
                              folder, f"choose a new or empty {option} folder")
