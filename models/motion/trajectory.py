"""One trajectory, one camera: a causal filter over every person's pelvis and the camera.

The motion model gives, per person and frame, two views of where the pelvis is:

- **where the camera sees it**: the pelvis in **cam** (``pelvis_cam``; from the network, or
  from a fit of the body to the 2D keypoints), good across the image and poor in depth;
- **how it moved**: a world displacement since the last frame (the predicted velocity,
  with feet in contact held still), good over a frame and drifting over many.

Neither places the camera, which a gyroscope or a rotation-only visual odometry leaves
without a position. This filter estimates both, in one linear Kalman filter whose state
is the camera's position and velocity (world, m and m/s) and each person's pelvis (world,
m) and the error of their predicted speed (m/s): ``x = [c, c_dot, p_1, b_1, ..., p_N, b_N]``.

- A person's displacement, plus ``b_i dt``, moves its pelvis (process noise small while a
  foot is in contact, larger in flight). ``b_i`` is the network's speed error, slowly
  varying (a network that reads a runner at a fifth of their pace does so for seconds),
  estimated where the camera is known to stand still (``fixed``, or the camera stage says
  so): there a person seen walking across the image while the network says they stand
  is published walking, not left behind; and, along the line of sight, where the floor
  shows the camera travelling towards or away from the person (following a walker from
  behind, it sees their pace nowhere but in its own travel). Elsewhere image motion is the camera's or
  the network's error and nothing tells which, so ``b_i`` is held at 0.
- ``pelvis_cam`` observes ``p_i - c = R_world_cam @ pelvis_cam``, its noise long along
  the viewing ray (depth) and short across it: a person stays where the camera sees them
  in the image while depth is smoothed. A measurement far outside its expected spread (a
  re-detection metres away, a detector swap) is down-weighted (its noise scaled by how far
  out it is), never taken whole in one frame; and the published pelvis never changes its
  velocity faster than a person can (``max_accel``) nor moves faster than a sprinter.
- The pelvis height above the floor (z = 0) observes ``p_i[2]``.
- The camera: ``fixed`` (a static or tripod camera, pan and zoom allowed: it keeps one
  position, so every person's world position follows from where it sees them),
  ``moving`` (constant velocity with random acceleration: its translation is estimated
  from the disagreement between the people's motion and where they are seen), or
  ``auto``: both models run side by side (an interacting multiple model filter, IMM); the
  camera is believed still until the moving model explains the measurements far better,
  switching with hysteresis. Where the camera stage knows (``camera_translates`` of
  :meth:`TrajectoryFilter.step`: the ``static`` backend always, a gyroscope's
  accelerometer while the camera stands still), that frame's answer overrides the
  measurements' evidence; a first "still" within ``still_window_s`` of the start (the
  verdict's window covers the first frame) returns the camera to where it started.
- The camera's travel over the floor (``floor_shift`` of :meth:`TrajectoryFilter.step`:
  the floor's image motion gives it per unit of the camera's height, which the state
  holds) observes the camera's horizontal velocity: the moving model follows it, and the
  fixed model, which holds the camera still, is judged by it. A camera that travels with
  a person (following, a dolly, a robot) shows its travel nowhere else.

The world's origin is below the camera at the first frame anyone is seen (x, y of the
camera fixed there; its height is what the first person's height and place imply).
Units: metres, seconds; world Z up. Work per frame is a few small matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CAMERA_MODES = ("auto", "fixed", "moving")
#: log-likelihood by which a frame whose camera stage knows whether the camera translates
#: favours that camera model (e^-30: no measurement outweighs it)
KNOWN_CAMERA_EVIDENCE = 30.0


@dataclass
class PelvisObservation:
    """What the estimator knows of one person in one frame.

    Attributes:
        displacement: (3,) world metres the pelvis moved since the person's last frame.
        height: pelvis height above the floor, m.
        pelvis_cam: (3,) pelvis in cam, m, or None (no detection this frame: predicted).
        in_contact: a foot is on the ground (the displacement is then trusted more).
        depth_sigma: std of pelvis_cam's depth as a fraction of it (0.12: 12 %).
    """

    displacement: np.ndarray
    height: float
    pelvis_cam: np.ndarray | None = None
    in_contact: bool = False
    depth_sigma: float = 0.12


@dataclass
class TrajectoryConfig:
    """Noise levels (standard deviations). Tuned on the studio's detector suite (training
    subjects), see ``bench/trajectory.py``."""

    step_sigma_contact: float = 0.15  # m/s: error of the predicted motion while a foot is down
    step_sigma_flight: float = 0.5  # m/s: ... with no foot down
    lateral_sigma: float = 0.03  # fraction of depth: pelvis_cam across the viewing ray
    lateral_floor_m: float = 0.02
    depth_floor_m: float = 0.05
    height_sigma: float = 0.05  # m
    camera_accel_sigma: float = 0.4  # m/s^2: a moving camera's random acceleration
    camera_speed_sigma0: float = 0.5  # m/s: its speed at the start
    camera_height_sigma0: float = 0.3  # m: the first camera height's uncertainty
    new_person_sigma: float = 0.3  # m: beyond its first measurement's own spread
    gate: float = 16.0  # squared Mahalanobis distance (3 dof: p = 0.001) beyond which a measurement is down-weighted
    switch_probability: float = 0.001  # per frame, for the IMM (auto)
    prior_moving: float = 0.1  # the IMM's belief at the start that the camera translates
    believe_moving: float = 0.95  # auto: publish the moving model's state above this probability ...
    believe_fixed: float = 0.5  # ... and the fixed model's again below this one
    max_speed: float = 12.0  # m/s: a published pelvis never moves faster (a sprinter's)
    max_accel: float = 30.0  # m/s^2: nor changes its velocity faster (a sprint start is ~10, a jump's take-off ~30)
    # the network's horizontal speed error, estimated where the camera is known still: its spread at the
    # start, how fast it may change (a moving camera's velocity changes alike), how long it lasts
    speed_error_sigma0: float = 0.5  # m/s: at a person's first frame
    speed_error_accel_sigma: float = 0.4  # m/s^2: its random change
    # ... along the line of sight from a camera the floor shows travelling: slower, so that the pelvis' depth
    # noise, which a speed error along the line of sight could follow, is not taken for the person walking
    speed_error_accel_sigma_along: float = 0.15  # m/s^2
    along_sight_speed: float = 0.3  # m/s: ... estimated where the camera travels along the line of sight this fast
    speed_error_time_s: float = 30.0  # s
    # the camera's horizontal velocity from the floor's image motion: its error, a floor plus a fraction
    # (the camera height it is scaled by is the state's, uncertain by ~10 %)
    floor_speed_sigma: float = 0.1  # m/s
    floor_speed_sigma_rel: float = 0.15
    # the camera stage's stillness window (stream/camera/stillness.py: AccelStillness.window_s): a first
    # "still" verdict this soon after the start says the camera has not moved since the first frame
    still_window_s: float = 2.0


@dataclass
class _Model:
    """One Kalman filter over [c, c_dot, p_1, b_1, ..., p_N, b_N] with a given camera model
    (``moving``: c_dot free, every b_i held at 0; fixed: c_dot held at 0, b_i free where
    the camera is known to stand still)."""

    moving: bool
    x: np.ndarray = field(default_factory=lambda: np.zeros(6))
    P: np.ndarray = field(default_factory=lambda: np.zeros((6, 6)))


class TrajectoryFilter:
    """The joint camera / pelvis filter (see the module docstring).

    Args:
        camera: ``auto`` | ``fixed`` | ``moving``.
        config: noise levels.
    """

    def __init__(self, camera: str = "auto", config: TrajectoryConfig | None = None):
        if camera not in CAMERA_MODES:
            raise ValueError(f"camera translation model {camera!r}: choose from {', '.join(CAMERA_MODES)}")
        self.mode = camera
        self.cfg = config or TrajectoryConfig()
        kinds = {"auto": (False, True), "fixed": (False,), "moving": (True,)}[camera]
        self.models = [_Model(moving) for moving in kinds]
        # IMM mode probabilities: a camera is believed still until its measurements say otherwise
        self.weights = np.array([1.0]) if len(self.models) == 1 else np.array([1 - self.cfg.prior_moving, self.cfg.prior_moving])
        self.persons: list[int] = []  # person ids, in state order
        self.started = False
        self.believed_moving = False
        self.published: dict[int, np.ndarray] = {}
        self.published_velocity: dict[int, np.ndarray] = {}
        self.estimating_speed_errors = camera == "fixed"  # set each step (see step)
        self.floor_measured = False  # this frame's floor_shift is known (see step)
        self.elapsed = 0.0  # s since the first frame anyone was seen
        self.told_still = False  # the camera stage has said "still" at least once

    # -- state layout --------------------------------------------------------------------------------
    def _index(self, pid: int) -> slice:
        """The person's pelvis in the state."""
        k = 6 + 6 * self.persons.index(pid)
        return slice(k, k + 3)

    def _bias_index(self, pid: int) -> slice:
        """The person's horizontal speed error in the state (its vertical one is always 0)."""
        k = 6 + 6 * self.persons.index(pid) + 3
        return slice(k, k + 2)

    def _add_person(self, pid: int, position: np.ndarray, cov: np.ndarray) -> None:
        self.persons.append(pid)
        for m in self.models:
            n = len(m.x)
            m.x = np.concatenate([m.x, position, np.zeros(3)])
            P = np.zeros((n + 6, n + 6))
            P[:n, :n] = m.P
            P[n : n + 3, n : n + 3] = cov
            P[n + 3 : n + 5, n + 3 : n + 5] = self.cfg.speed_error_sigma0**2 * self._speed_error_shape(m, position - m.x[:3])
            m.P = P

    def drop(self, pid: int) -> None:
        """Forget a person (the estimator dropped their track)."""
        if pid not in self.persons:
            return
        s = self._index(pid)
        keep = np.r_[0 : s.start, s.start + 6 : len(self.models[0].x)]
        for m in self.models:
            m.x, m.P = m.x[keep], m.P[np.ix_(keep, keep)]
        self.persons.remove(pid)
        self.published.pop(pid, None)
        self.published_velocity.pop(pid, None)

    # -- one frame -----------------------------------------------------------------------------------
    def step(self, dt: float, R_world_cam: np.ndarray, observations: dict[int, PelvisObservation],
             camera_translates: bool | None = None, floor_shift: np.ndarray | None = None) -> dict[int, np.ndarray]:  # fmt: skip
        """Advance by ``dt`` seconds and take this frame's observations (person id ->
        :class:`PelvisObservation`; persons not named are dropped). ``camera_translates``:
        what the camera stage knows this frame (False: the camera stands still; True: it
        travels; None: cannot tell), which ``auto`` believes over the measurements.
        ``floor_shift``: (2,) the camera's world (x, y) travel over these ``dt`` seconds
        divided by its height above the floor, when the camera stage saw the floor move.
        Returns each observed person's pelvis (world, m); the camera's position is
        :attr:`camera_position`."""
        for pid in [p for p in self.persons if p not in observations]:
            self.drop(pid)
        if not self.started:
            first = next((o for o in observations.values() if o.pelvis_cam is not None), None)
            if first is None:
                return {}
            z = first.height - float((R_world_cam @ first.pelvis_cam)[2])
            for m in self.models:
                m.x[:3] = [0.0, 0.0, z]
                m.P = np.diag([0.0, 0.0, self.cfg.camera_height_sigma0**2, *([self.cfg.camera_speed_sigma0**2] * 3)])
                if not m.moving:
                    m.P[3:6, 3:6] = 0.0
            self.started = True
        else:
            self.elapsed += dt
        if camera_translates is False and not self.told_still:
            self.told_still = True
            if self.elapsed <= self.cfg.still_window_s:
                self._return_camera_to_start()
        for pid, obs in observations.items():
            if pid not in self.persons:
                if obs.pelvis_cam is None:
                    continue  # never seen: nothing places them
                c = self.camera_position
                R = self._measurement_cov(obs, R_world_cam)
                self._add_person(pid, c + R_world_cam @ obs.pelvis_cam, R + np.eye(3) * self.cfg.new_person_sigma**2)
        # the speed errors are estimated only where the camera is known to stand still: elsewhere a
        # person's image motion is either the camera's or the network's error, and nothing tells which
        self.estimating_speed_errors = self.mode == "fixed" or camera_translates is False
        # ... or where the floor measures how the camera travels (the moving model)
        self.floor_measured = floor_shift is not None and self.mode != "fixed"
        if len(self.models) > 1:
            self._mix()
        for m in self.models:
            self._hold(m)
        log_likelihoods = np.array([self._advance(m, dt, R_world_cam, observations, floor_shift) for m in self.models])
        if len(self.models) > 1:
            if camera_translates is not None:  # the camera stage knows: that model explains this frame
                log_likelihoods[[m.moving != camera_translates for m in self.models]] -= KNOWN_CAMERA_EVIDENCE
            log_w = np.log(np.maximum(self.weights, 1e-300)) + log_likelihoods
            w = np.exp(log_w - log_w.max())
            self.weights = np.clip(w / w.sum(), 1e-6, 1.0)
            self.weights /= self.weights.sum()
            p = self.camera_moving_probability  # hysteresis: a moment's doubt does not move the camera
            if p > self.cfg.believe_moving:
                self.believed_moving = True
            elif p < self.cfg.believe_fixed:
                self.believed_moving = False
        x = self.state
        if not np.isfinite(x).all() or not all(np.isfinite(m.P).all() for m in self.models):
            # never publish NaN: a degenerate update (it should not happen) restarts the filter
            self.__init__(self.mode, self.cfg)
            return {}
        out = {}
        for pid in self.persons:
            if pid not in observations:
                continue
            p = x[self._index(pid)]
            last = self.published.get(pid)
            if last is not None:  # never publish a jump a person cannot make
                p = last + self._limit_motion(pid, (p - last) / dt, dt) * dt
            self.published[pid] = p.copy()
            out[pid] = p
        return out

    def _return_camera_to_start(self) -> None:
        """The camera has stood still since the first frame (the camera stage's first verdict
        covers it): whatever translation the filter gave it before the verdict (the measurements'
        evidence of the first seconds, a person walking read as the camera moving) was the
        people's, so the camera goes back above the origin and everyone with it (where they
        are seen from it does not change). The published pelvis follows within the motion
        limits, never in one jump."""
        for m in self.models:
            shift = np.array([m.x[0], m.x[1], 0.0])
            for pid in self.persons:
                m.x[self._index(pid)] -= shift
            _zero(m, np.array([0, 1, 3, 4, 5]))  # known: above the origin, not moving
        self.believed_moving = False

    def _limit_motion(self, pid: int, velocity: np.ndarray, dt: float) -> np.ndarray:
        """The published velocity (3,) m/s: this frame's, its change since the last frame held
        to ``max_accel`` and its size to ``max_speed``."""
        last = self.published_velocity.get(pid)
        if last is not None:
            change = velocity - last
            limit = self.cfg.max_accel * dt
            norm = float(np.linalg.norm(change))
            if norm > limit:
                velocity = last + change * (limit / norm)
        speed = float(np.linalg.norm(velocity))
        if speed > self.cfg.max_speed:
            velocity = velocity * (self.cfg.max_speed / speed)
        self.published_velocity[pid] = velocity
        return velocity

    @property
    def state(self) -> np.ndarray:
        """The state of the camera model believed now: with ``auto``, the moving model's once
        its probability has passed ``believe_moving``, the fixed model's again once it has
        fallen below ``believe_fixed`` (updated once per :meth:`step`)."""
        return self.believed_model.x

    @property
    def believed_model(self) -> _Model:
        """The camera model whose state is published (see :attr:`state`)."""
        if len(self.models) == 1:
            return self.models[0]
        return self.models[1 if self.believed_moving else 0]

    @property
    def camera_position(self) -> np.ndarray:
        """(3,) the camera's world position, m."""
        return self.state[:3].copy()

    @property
    def camera_moving_probability(self) -> float:
        """How much the filter believes the camera translates (1 or 0 unless ``auto``)."""
        return float(sum(w for w, m in zip(self.weights, self.models) if m.moving))

    # -- internals -------------------------------------------------------------------------------------
    def _measurement_cov(self, obs: PelvisObservation, R_world_cam: np.ndarray) -> np.ndarray:
        assert obs.pelvis_cam is not None  # only observations with a camera-frame pelvis are measured
        depth = max(float(obs.pelvis_cam[2]), 0.3)
        lateral = self.cfg.lateral_sigma * depth + self.cfg.lateral_floor_m
        along = obs.depth_sigma * depth + self.cfg.depth_floor_m
        ray = obs.pelvis_cam / max(np.linalg.norm(obs.pelvis_cam), 1e-6)  # the viewing ray, cam
        cov_cam = lateral**2 * np.eye(3) + (along**2 - lateral**2) * np.outer(ray, ray)
        return R_world_cam @ cov_cam @ R_world_cam.T

    def _mix(self) -> None:
        """IMM mixing: each model restarts from the others' estimates, weighted by how likely
        a switch to it was."""
        n = len(self.models)
        s = self.cfg.switch_probability
        Pi = np.full((n, n), s / (n - 1)) + np.eye(n) * (1 - s - s / (n - 1))
        c = Pi.T @ self.weights
        mixed = []
        for j in range(n):
            mu = Pi[:, j] * self.weights / max(c[j], 1e-12)
            x0 = sum(mu[i] * self.models[i].x for i in range(n))
            P0 = sum(mu[i] * (self.models[i].P + np.outer(self.models[i].x - x0, self.models[i].x - x0)) for i in range(n))
            mixed.append((x0, P0))
        for m, (x0, P0) in zip(self.models, mixed):
            m.x, m.P = x0, P0
        self.weights = c

    def _hold(self, m: _Model) -> None:
        """Hold what the model does not estimate now: a fixed camera's velocity at 0; the
        speed errors, where not estimated (see :meth:`_estimates_speed_error`), at 0 with their
        prior spread (they enter no prediction, and are there to start from when estimated);
        every vertical speed error at 0 (the height is observed)."""
        if not m.moving:
            _zero(m, np.arange(3, 6))
        for pid in self.persons:
            b = self._bias_index(pid).start
            _zero(m, np.array([b + 2]))
            if not self._estimates_speed_error(m, pid):
                _zero(m, np.array([b, b + 1]))
                shape = self._speed_error_shape(m, m.x[self._index(pid)] - m.x[:3])
                m.P[b : b + 2, b : b + 2] = self.cfg.speed_error_sigma0**2 * shape

    @staticmethod
    def _speed_error_shape(m: _Model, person_from_camera: np.ndarray) -> np.ndarray:
        """(2, 2) the horizontal directions a person's speed error may take (see :meth:`_advance`):
        across the line of sight for a still camera's model, along it for a travelling one's."""
        across = _across_view(person_from_camera)
        if m.moving:
            along = np.array([across[1], -across[0]])
            return np.outer(along, along)
        return np.outer(across, across)

    def _estimates_speed_error(self, m: _Model, pid: int) -> bool:
        """Whether model ``m`` estimates person ``pid``'s speed error this frame: the fixed model
        where the camera is known still; the moving one where the floor shows the camera
        travelling towards or away from the person (``along_sight_speed``): a camera following
        or leading a walker. A camera that travels across the line of sight (an orbit, a
        dolly) sees the person's pace in the image, and the error along it would only follow
        the pelvis' depth noise and the camera height's scale error."""
        if not m.moving:
            return self.estimating_speed_errors
        if not self.floor_measured:
            return False
        sight = m.x[self._index(pid)][:2] - m.x[:2]
        sight = sight / max(float(np.linalg.norm(sight)), 1e-6)
        return abs(float(m.x[3:5] @ sight)) > self.cfg.along_sight_speed

    def _advance(self, m: _Model, dt: float, R_world_cam: np.ndarray, observations: dict[int, PelvisObservation],
                 floor_shift: np.ndarray | None = None) -> float:  # fmt: skip
        """Predict and update one model; returns the log-likelihood of this frame's measurements."""
        cfg = self.cfg
        n = len(m.x)
        F = np.eye(n)
        Q = np.zeros((n, n))
        if m.moving:
            F[0:3, 3:6] = dt * np.eye(3)
            q = cfg.camera_accel_sigma**2
            Q[0:3, 0:3] = q * dt**4 / 4 * np.eye(3)
            Q[0:3, 3:6] = Q[3:6, 0:3] = q * dt**3 / 2 * np.eye(3)
            Q[3:6, 3:6] = q * dt**2 * np.eye(3)
        u = np.zeros(n)
        decay = float(np.exp(-dt / cfg.speed_error_time_s))
        for pid in self.persons:
            s, b = self._index(pid), self._bias_index(pid)
            obs = observations[pid]
            u[s] = obs.displacement
            sigma = cfg.step_sigma_contact if obs.in_contact else cfg.step_sigma_flight
            Q[s, s] = (sigma * dt) ** 2 * np.eye(3)
            if self._estimates_speed_error(m, pid):  # the speed error moves the pelvis, and fades (Gauss-Markov)
                F[s.start : s.start + 2, b] = dt * np.eye(2)
                F[b, b] = decay * np.eye(2)
                # from a still camera it grows only across the line of sight, where the image measures motion
                # well (along it, depth is noisy: a speed error learnt from depth noise would walk the person to
                # and fro); from a camera the floor shows travelling, only along it, and slowly: across it the
                # image places the person well anyway, and a camera following a walker from behind sees their
                # pace nowhere but in its own travel
                accel = cfg.speed_error_accel_sigma_along if m.moving else cfg.speed_error_accel_sigma
                Q[b, b] = (accel * dt) ** 2 * self._speed_error_shape(m, m.x[s] - m.x[:3])
        m.x = F @ m.x + u
        m.P = F @ m.P @ F.T + Q
        log_likelihood = 0.0
        if floor_shift is not None and self.floor_measured:  # first: the people's measurements then place them
            log_likelihood += self._observe_floor(m, dt, floor_shift)
        for pid in self.persons:
            obs = observations[pid]
            s = self._index(pid)
            # height above the floor
            H = np.zeros((1, n))
            H[0, s.start + 2] = 1.0
            log_likelihood += self._update(m, H, np.array([obs.height]), np.array([[cfg.height_sigma**2]]))
            if obs.pelvis_cam is None:
                continue
            H = np.zeros((3, n))
            H[:, s] = np.eye(3)
            H[:, 0:3] = -np.eye(3)
            log_likelihood += self._update(m, H, R_world_cam @ obs.pelvis_cam, self._measurement_cov(obs, R_world_cam))
        return log_likelihood

    def _observe_floor(self, m: _Model, dt: float, floor_shift: np.ndarray) -> float:
        """Update one model with the camera's horizontal velocity the floor's motion gives
        (``floor_shift`` x the camera's height above the floor / ``dt``); returns its
        log-likelihood (a fixed model, its velocity held at 0, is only judged by it)."""
        rate = np.asarray(floor_shift, dtype=np.float64) / max(dt, 1e-6)  # 1/s: velocity per unit height
        sigma = self.cfg.floor_speed_sigma + self.cfg.floor_speed_sigma_rel * float(np.linalg.norm(rate)) * max(float(m.x[2]), 0.2)
        # velocity_xy - height * rate = 0: linear in the state, so the height is corrected too where the
        # people pin the camera's velocity (the floor's measure is in heights; the people's in metres)
        H = np.zeros((2, len(m.x)))
        H[:, 3:5] = np.eye(2)
        H[:, 2] = -rate
        return self._update(m, H, np.zeros(2), np.eye(2) * sigma**2)

    def _update(self, m: _Model, H: np.ndarray, z: np.ndarray, R: np.ndarray) -> float:
        """A Kalman update, robust to outliers; returns the log-likelihood of ``z``."""
        innovation = z - H @ m.x
        S = H @ m.P @ H.T + R
        d2 = float(innovation @ np.linalg.solve(S, innovation))
        if d2 > self.cfg.gate:  # far out: believe it as much as a measurement that far out deserves
            R = R * (d2 / self.cfg.gate)
            S = H @ m.P @ H.T + R
        K = np.linalg.solve(S, H @ m.P).T
        m.x = m.x + K @ innovation
        I_KH = np.eye(len(m.x)) - K @ H
        m.P = I_KH @ m.P @ I_KH.T + K @ R @ K.T  # Joseph form: stays symmetric and positive
        sign, logdet = np.linalg.slogdet(2 * np.pi * S)
        return -0.5 * (float(innovation @ np.linalg.solve(S, innovation)) + logdet)


def _zero(m: _Model, idx: np.ndarray) -> None:
    """Set state entries ``idx`` to 0, known exactly (no variance, no correlation)."""
    m.x[idx] = 0.0
    m.P[idx, :] = 0.0
    m.P[:, idx] = 0.0


def _across_view(person_from_camera: np.ndarray) -> np.ndarray:
    """(2,) horizontal unit vector at right angles to the line of sight ``person_from_camera``
    (3,) (world x, y); any horizontal direction when the person is right above or below."""
    x, y = person_from_camera[:2]
    norm = float(np.hypot(x, y))
    return np.array([-y, x]) / norm if norm > 1e-6 else np.array([1.0, 0.0])
