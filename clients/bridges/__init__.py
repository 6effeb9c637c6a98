"""Bridges from the ZeroMQ stream to other tools' protocols (``livehmr bridge NAME``).

Each bridge is a client of the stream, in its own process (it can run on another
machine and never slows the pipeline): :func:`livehmr.clients.bridges.stream.run_bridge`
reads whole frames of states and hands them to a :class:`~livehmr.clients.bridges.stream.Bridge`.
"""
