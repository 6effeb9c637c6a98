"""Alias of :mod:`livehmr.core.errors` (the errors live in the bottom layer)."""

from livehmr.core.errors import GyroFormatError, LivehmrError, SourceError

__all__ = ["GyroFormatError", "LivehmrError", "SourceError"]
