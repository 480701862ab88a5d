"""Errors with a file and a fix: every bad input the user can cause ends up here.

The classes live in ``sdmr.errors`` (one taxonomy for the whole package); this module re-exports
them so ``from sdmr.data.errors import DataError`` keeps working.
"""

from __future__ import annotations

from sdmr.errors import ConfigError, DataError, OutputError, SdmrError

__all__ = ["ConfigError", "DataError", "OutputError", "SdmrError"]
