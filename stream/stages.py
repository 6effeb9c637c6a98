"""Alias of :mod:`livehmr.core.stages` (the stage protocols are part of the bottom layer)."""

from livehmr.core.stages import *  # noqa: F401,F403
