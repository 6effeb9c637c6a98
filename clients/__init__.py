"""Clients of the published stream: the subscriber SDK (:mod:`livehmr.clients.sdk`) and ``livehmr echo``."""

from livehmr.clients.sdk import State, Subscriber

__all__ = ["State", "Subscriber"]
