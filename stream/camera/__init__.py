"""Camera-motion backends (``--camera``): ``static`` (:mod:`.static`), ``gyro``
(:mod:`.gyro`), ``vo`` (:mod:`.visual` over the OpenCV odometry in :mod:`.vo`), ``gyro+vo``
(:mod:`.fused`, clock offset and bias from :mod:`.gyro_align`) and ``dpvo`` (:mod:`.dpvo`).
Every one but ``static`` is wrapped by :mod:`.floor_camera`, which adds the camera's
travel over the floor (:mod:`.floor_motion`) to its states (``--no-floor-motion``: not).

All start from the same world: gravity from the first frame's accelerometer reading when
the source gives one (``Frame.gravity_cam``), otherwise the camera is *assumed level* at
the first frame (image rows horizontal, optical axis horizontal); the world's heading (+X)
is the first frame's viewing direction (:func:`.static.initial_orientation`).
"""
