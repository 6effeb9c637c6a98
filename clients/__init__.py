"""Clients of the published stream: the subscriber SDK (:mod:`livehmr.clients.sdk`),
recordings (:mod:`livehmr.clients.recording`) and ``livehmr echo``."""

from livehmr.clients.sdk import AsyncSubscriber, FrameImage, State, Status, Subscriber, subscribe

__all__ = ["AsyncSubscriber", "FrameImage", "State", "Status", "Subscriber", "subscribe"]
