"""2D keypoint backends (``--keypoints``): ``blazepose`` (:mod:`.blazepose`, MediaPipe's
Pose solution), ``blazepose-multi`` (:mod:`.blazepose_multi`, its models per person, with
the :mod:`.tracker`) and ``vitpose`` (:mod:`.vitpose`, top-down on BlazePose's detections)."""
