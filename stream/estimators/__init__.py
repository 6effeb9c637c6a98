"""Body estimators (``--estimator``): ``learned`` (:mod:`.learned`, the causal motion model
with its trajectory filter and keypoint fits) and ``baseline`` (:mod:`.baseline`, IK on
BlazePose's metric 3D landmarks)."""
