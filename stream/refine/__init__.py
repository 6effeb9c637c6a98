"""Windowed refinement: a fixed-lag smoother beside the causal stream (see
docs/architecture.md, "Windowed refinement")."""
