"""Benchmarks that print figures (never timed assertions). Run e.g. ``python -m livehmr.bench.latency``."""
