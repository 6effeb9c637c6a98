"""Alias of :mod:`livehmr.core.types` (the stage types are part of the bottom layer)."""

from livehmr.core.types import *  # noqa: F401,F403
