"""Per-image results as an append-only JSONL file, so an interrupted benchmark resumes.

Each record is one line written with a single ``write`` on an ``O_APPEND`` descriptor and
fsync'd, so a crash loses at most the line being written. On reopening, a torn last line is
dropped and the file is rewritten atomically with the intact records.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sdmr.data.atomic import atomic_write_text


class ProgressLog:
    """The records of one method's run, keyed by dataset position (a later line for the same
    position, e.g. a retried failure, replaces the earlier one)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.records: dict[int, dict] = {}
        if self.path.exists():
            self._recover()

    def _recover(self) -> None:
        intact, torn = [], False
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                torn = True
                continue
            intact.append(line)
            self.records[int(record["position"])] = record
        if torn:
            atomic_write_text(self.path, "".join(f"{line}\n" for line in intact))

    def done(self, position: int) -> bool:
        """Scored successfully; failed images are tried again when a run resumes."""
        record = self.records.get(position)
        return record is not None and record["status"] == "ok"

    def append(self, record: dict) -> None:
        """Store one image's record durably before moving on."""
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.records[int(record["position"])] = record

    def ordered(self) -> list[dict]:
        """Records in dataset order, whatever order the workers finished in."""
        return [self.records[k] for k in sorted(self.records)]
