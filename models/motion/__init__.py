"""The learned causal motion model: 2D keypoints (+ BlazePose's 3D landmarks) + camera
rotation -> world-grounded SMPL-24.

- :mod:`.features`: what the network sees, computed the same way in training and live;
- :mod:`.network`: the recurrent networks, step and sequence APIs, and their weights;
- :mod:`.shape`: the predicted shape as a skeleton;
- :mod:`.trajectory`: the Kalman filter over the camera and every pelvis;
- :mod:`.fit`: the pelvis and limb fits to the 2D keypoints.

Training is :mod:`livehmr.training.motion`; the live estimator is
:mod:`livehmr.stream.estimators.learned`.
"""
