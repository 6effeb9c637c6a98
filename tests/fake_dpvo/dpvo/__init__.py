"""A stand-in for DPVO's Python API (princeton-vl/DPVO), for testing livehmr's adapter
without CUDA. Poses come from ``TRAJECTORY`` (a list of R_world_cam), set by the test."""
