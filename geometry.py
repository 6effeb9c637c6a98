"""Alias of :mod:`livehmr.core.geometry` (geometry is part of the bottom layer)."""

from livehmr.core.geometry import *  # noqa: F401,F403
