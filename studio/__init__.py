"""Synthetic scenes with exact ground truth: motion, camera trajectories, a simulated
gyroscope and a CPU renderer. ``livehmr demo`` runs the pipeline on :func:`default_scene`."""
