"""livehmr on a Ray cluster: ``livehmr serve`` (many live streams, one actor each, one
aggregate ZeroMQ endpoint) and ``livehmr batch`` (many videos, one Ray task each).
See docs/scaling.md."""
