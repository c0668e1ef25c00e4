"""The ray caster shared by the synthetic generators: materials, primitives, a room, lighting and an RGB-D sensor.

A scene is a box-shaped room (floor, four walls, ceiling) holding primitives -- axis-aligned boxes, spheres,
vertical cylinders, oriented boxes and flat discs -- each with a class label and a :class:`Material`. Every
surface draws its colours and procedural texture from one distribution (:func:`random_material`), so colour
alone carries no class information. :func:`render_frame` ray casts one frame with vectorised numpy and simulates
the sensor: image noise, range-dependent depth noise and the holes real depth maps have.

World frame: z up, the room spans ``[0, Lx] x [0, Ly] x [0, Lz]``. Camera frame: OpenCV (x right, y down,
z forward); poses are camera-to-world like ScanNet's ``pose/*.txt``. Depth is z-depth along the optical axis.

All randomness comes from streams keyed by what they are for (:func:`keyed_rng`), so output depends on the seed
and the key only, never on generation order or on how work is split over processes. Only numpy and OpenCV are
imported (no models, no registries), so worker processes stay light.
"""
import colorsys
import itertools
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

__all__ = [
    'WALL', 'FLOOR', 'CEILING', 'MAX_DEPTH', 'PATTERNS', 'Material', 'AttachedMaterial', 'Box', 'Sphere', 'Cylinder',
    'OrientedBox', 'FacingDisc', 'Primitive', 'Scene', 'box', 'camera_intrinsics', 'camera_rotation',
    'random_material', 'random_light_direction', 'random_light_levels', 'render_frame', 'keyed_rng'
]

# NYU40 ids of the room's surfaces, written to the label PNGs so the NYU40 -> ScanNet20 mapping of real data applies.
WALL, FLOOR, CEILING = 1, 2, 22

# Depth sensors of the ScanNet kind report nothing past about 10 m.
MAX_DEPTH = 10.0
# Surfaces seen at less than this cosine between ray and normal return no depth, as with structured light.
GRAZING_COS = 0.12
# A neighbour this much (relative) closer casts a depth "shadow" on the farther pixel.
EDGE_JUMP = 0.06
# Hits closer than this are the surface the ray starts on, not a new one.
_EPS = 1e-4
# Bounding-box corners closer to the camera plane than this cannot be projected to bound a primitive on screen.
_NEAR = 1e-3

# Room surfaces are 0..5: walls at x=0, x=Lx, y=0, y=Ly, then floor and ceiling; normals point into the room.
_ROOM_NORMALS = np.array(
    [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float32)
_ROOM_LABELS = (WALL, WALL, WALL, WALL, FLOOR, CEILING)
_BOX_NORMALS = np.array(
    [[-1, 0, 0], [0, -1, 0], [0, 0, -1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)

PATTERNS = ('plain', 'stripes', 'checker', 'noise')


@dataclass(frozen=True)
class Material:
    """Albedo as a blend of two colours driven by a 3-D procedural pattern, so texture sticks to surfaces.

    Attributes:
        color_a: (3,) RGB in [0, 1].
        color_b: (3,) RGB in [0, 1].
        pattern: One of :data:`PATTERNS`.
        waves: (K, 3) angular spatial frequencies in rad/m (stripes use the first row, noise all rows).
        phases: (K,) phase offsets of ``waves``.
        cell: Checker cell size in metres.
        offset: (3,) checker grid offset in metres; keeps grid lines off the room's axis-aligned planes.
    """
    color_a: np.ndarray
    color_b: np.ndarray
    pattern: str
    waves: np.ndarray
    phases: np.ndarray
    cell: float
    offset: np.ndarray

    def albedo(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Returns (M, 3) float32 albedo at world points given as (M,) coordinate arrays."""
        if self.pattern == 'plain':
            return np.broadcast_to(self.color_a, (len(x), 3))
        if self.pattern == 'checker':
            cells = (np.floor((x + self.offset[0]) / self.cell) + np.floor((y + self.offset[1]) / self.cell) +
                     np.floor((z + self.offset[2]) / self.cell))
            blend = (cells.astype(np.int64) & 1).astype(np.float32)
        else:
            waves = [np.sin(x * w[0] + y * w[1] + z * w[2] + p) for w, p in zip(self.waves, self.phases)]
            if self.pattern == 'stripes':
                # Steepened sine: crisp stripes without aliasing-prone hard steps.
                blend = np.clip(waves[0] * 4.0, -1.0, 1.0) * 0.5 + 0.5
            else:
                blend = np.clip(0.5 + sum(waves) / len(waves), 0.0, 1.0)
        return self.color_a + (self.color_b - self.color_a) * blend[:, None]


@dataclass(frozen=True)
class AttachedMaterial:
    """A material carried by a moving primitive: its pattern is evaluated in the primitive's own frame (origin
    ``origin``, axes the columns of ``rot``), so the texture moves and turns with the primitive."""
    material: Material
    origin: np.ndarray
    rot: np.ndarray

    def albedo(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        local = (np.stack([x, y, z], axis=1) - self.origin) @ self.rot
        return self.material.albedo(local[:, 0], local[:, 1], local[:, 2])


# Ray bundles are kept as separate x, y, z arrays: numpy is far faster on contiguous planes than on a trailing
# axis of length 3, and it avoids BLAS calls whose threads would compete with worker processes.
Rays = Tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Box:
    """Axis-aligned box with corners ``lo`` < ``hi`` (metres, world frame)."""
    lo: np.ndarray
    hi: np.ndarray
    label: int
    material: Material

    @property
    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        return self.lo, self.hi

    def intersect(self, origin: np.ndarray, dirs: Rays, inv_dirs: Rays) -> np.ndarray:
        """Slab test; returns the ray parameter of the entry point, inf where the ray misses."""
        t_near = t_far = None
        for axis, inv in enumerate(inv_dirs):
            t1 = (self.lo[axis] - origin[axis]) * inv
            t2 = (self.hi[axis] - origin[axis]) * inv
            near, far = np.minimum(t1, t2), np.maximum(t1, t2)
            t_near = near if t_near is None else np.maximum(t_near, near)
            t_far = far if t_far is None else np.minimum(t_far, far)
        return np.where((t_near <= t_far) & (t_near > _EPS), t_near, np.float32(np.inf))

    def normal(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        # The face a hit lies on is the one the point is closest to.
        coords = (x, y, z)
        dist = np.stack([np.abs(c - self.lo[i]) for i, c in enumerate(coords)] +
                        [np.abs(c - self.hi[i]) for i, c in enumerate(coords)])
        return _BOX_NORMALS[dist.argmin(axis=0)]


@dataclass(frozen=True)
class Sphere:
    """Sphere with ``center`` (3,) and ``radius`` in metres."""
    center: np.ndarray
    radius: float
    label: int
    material: Material

    @property
    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        return self.center - self.radius, self.center + self.radius

    def intersect(self, origin: np.ndarray, dirs: Rays, inv_dirs: Rays) -> np.ndarray:
        dx, dy, dz = dirs
        ox, oy, oz = origin - self.center
        a = dx * dx + dy * dy + dz * dz
        b = dx * ox + dy * oy + dz * oz
        c = ox * ox + oy * oy + oz * oz - np.float32(self.radius ** 2)
        disc = b * b - a * c
        t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
        return np.where((disc >= 0) & (t > _EPS), t, np.float32(np.inf))

    def normal(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return (np.stack([x, y, z], axis=1) - self.center) / np.float32(self.radius)


@dataclass(frozen=True)
class Cylinder:
    """Vertical cylinder with axis through ``center`` (x, y), spanning heights ``z0`` to ``z1``."""
    center: np.ndarray
    radius: float
    z0: float
    z1: float
    label: int
    material: Material

    @property
    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        lo = np.array([self.center[0] - self.radius, self.center[1] - self.radius, self.z0], dtype=np.float32)
        hi = np.array([self.center[0] + self.radius, self.center[1] + self.radius, self.z1], dtype=np.float32)
        return lo, hi

    def intersect(self, origin: np.ndarray, dirs: Rays, inv_dirs: Rays) -> np.ndarray:
        dx, dy, dz = dirs
        ox, oy = origin[:2] - self.center
        r2 = np.float32(self.radius ** 2)
        a = dx * dx + dy * dy
        b = dx * ox + dy * oy
        disc = b * b - a * (ox * ox + oy * oy - r2)
        t_side = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
        z_side = origin[2] + t_side * dz
        side_hit = (disc >= 0) & (t_side > _EPS) & (z_side >= self.z0) & (z_side <= self.z1)
        t = np.where(side_hit, t_side, np.float32(np.inf))
        # Only the cap facing the camera can be the first hit; none when the camera is level with the body.
        if origin[2] > self.z1 or origin[2] < self.z0:
            cap_z = self.z1 if origin[2] > self.z1 else self.z0
            t_cap = np.float32(cap_z - origin[2]) * inv_dirs[2]
            rx, ry = ox + t_cap * dx, oy + t_cap * dy
            cap_hit = (t_cap > _EPS) & (rx * rx + ry * ry <= r2)
            t = np.where(cap_hit & (t_cap < t), t_cap, t)
        return t

    def normal(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        rx, ry = x - self.center[0], y - self.center[1]
        rho = np.sqrt(rx * rx + ry * ry)
        scale = 1.0 / np.maximum(rho, np.float32(1e-6))
        to_top, to_bottom = np.abs(z - self.z1), np.abs(z - self.z0)
        on_cap = np.minimum(to_top, to_bottom) < np.abs(rho - self.radius)
        cap_sign = np.where(to_top <= to_bottom, np.float32(1), np.float32(-1))
        return np.stack([np.where(on_cap, 0, rx * scale), np.where(on_cap, 0, ry * scale),
                         np.where(on_cap, cap_sign, 0)], axis=1).astype(np.float32)


@dataclass(frozen=True)
class OrientedBox:
    """Box of half extents ``half`` (3,) centred at ``center``, its axes the columns of ``rot`` (3, 3)."""
    center: np.ndarray
    half: np.ndarray
    rot: np.ndarray
    label: int
    material: Material

    @property
    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        reach = np.abs(self.rot) @ self.half
        return (self.center - reach).astype(np.float32), (self.center + reach).astype(np.float32)

    def _local(self, origin, dirs):
        o = (origin - self.center) @ self.rot
        d = [sum(dirs[i] * self.rot[i, a] for i in range(3)) for a in range(3)]
        return o, d

    def intersect(self, origin, dirs, inv_dirs) -> np.ndarray:
        o, d = self._local(origin, dirs)
        t_near = t_far = None
        for axis in range(3):
            da = np.where(d[axis] == 0, np.float32(1e-9), d[axis])
            t1 = (-self.half[axis] - o[axis]) / da
            t2 = (self.half[axis] - o[axis]) / da
            near, far = np.minimum(t1, t2), np.maximum(t1, t2)
            t_near = near if t_near is None else np.maximum(t_near, near)
            t_far = far if t_far is None else np.minimum(t_far, far)
        return np.where((t_near <= t_far) & (t_near > _EPS), t_near, np.float32(np.inf)).astype(np.float32)

    def normal(self, x, y, z) -> np.ndarray:
        local = (np.stack([x, y, z], axis=1) - self.center) @ self.rot / self.half
        axis = np.abs(local).argmax(axis=1)
        n = np.zeros_like(local)
        n[np.arange(len(axis)), axis] = np.sign(local[np.arange(len(axis)), axis])
        return (n @ self.rot.T).astype(np.float32)


@dataclass(frozen=True)
class FacingDisc:
    """Flat disc of ``radius`` at ``center`` with unit normal ``normal_vec`` (towards the camera)."""
    center: np.ndarray
    radius: float
    normal_vec: np.ndarray
    label: int
    material: Material

    @property
    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        return (self.center - self.radius).astype(np.float32), (self.center + self.radius).astype(np.float32)

    def intersect(self, origin, dirs, inv_dirs) -> np.ndarray:
        n = self.normal_vec
        denom = dirs[0] * n[0] + dirs[1] * n[1] + dirs[2] * n[2]
        denom = np.where(np.abs(denom) < 1e-9, np.float32(1e-9), denom)
        t = np.float32(np.dot(self.center - origin, n)) / denom
        px, py, pz = (origin[i] + t * dirs[i] - self.center[i] for i in range(3))
        inside = px * px + py * py + pz * pz <= np.float32(self.radius ** 2)
        return np.where(inside & (t > _EPS), t, np.float32(np.inf)).astype(np.float32)

    def normal(self, x, y, z) -> np.ndarray:
        return np.broadcast_to(self.normal_vec.astype(np.float32), (len(x), 3)).copy()


Primitive = Union[Box, Sphere, Cylinder, OrientedBox, FacingDisc]


@dataclass(frozen=True)
class Scene:
    """Everything needed to render any frame of one scene.

    Attributes:
        size: (3,) room extent (Lx, Ly, Lz) in metres.
        wall, floor, ceiling: Room surface materials.
        objects: Furniture primitives; a piece of furniture may span several primitives with one label.
        camera: The camera trajectory of the scene's generator (e.g. :class:`~m33d_mm.synthetic.scenes.CameraPath`),
            None for a single view.
        light: (3,) unit vector towards the directional light.
        ambient: Ambient light term.
        diffuse: Directional light strength.
        exposure: Global gain, varies brightness between scenes.
        noise_sigma: Std of the additive colour noise in 8-bit levels.
    """
    size: np.ndarray
    wall: Material
    floor: Material
    ceiling: Material
    objects: Tuple[Primitive, ...]
    camera: Optional[object]
    light: np.ndarray
    ambient: float
    diffuse: float
    exposure: float
    noise_sigma: float



def camera_intrinsics(height: int, width: int) -> np.ndarray:
    """3x3 pinhole intrinsics with ScanNet's field of view (fx = fy = 0.9 W) and the principal point centred."""
    focal = 0.9 * width
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])



def random_material(rng: np.random.Generator) -> Material:
    # One distribution for every surface of every class: colour must carry no class information.
    hue = rng.random()
    sat, val = rng.uniform(0.05, 0.85), rng.uniform(0.25, 0.95)
    color_a = colorsys.hsv_to_rgb(hue, sat, val)
    if rng.random() < 0.5:
        color_b = colorsys.hsv_to_rgb(hue, sat * rng.uniform(0.5, 1.0), val * rng.uniform(0.4, 0.8))
    else:
        color_b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.05, 0.85), rng.uniform(0.25, 0.95))
    # Periods stay above a few centimetres: finer patterns only alias into moire at room distances.
    scale = rng.uniform(0.12, 0.6)
    num_waves = 4
    directions = rng.normal(size=(num_waves, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    # Octaves for the noise pattern: each wave is finer than the previous one, starting at twice ``scale``.
    waves = directions * (np.pi / scale) * (1.6 ** np.arange(num_waves))[:, None]
    return Material(
        color_a=np.asarray(color_a, dtype=np.float32),
        color_b=np.asarray(color_b, dtype=np.float32),
        pattern=PATTERNS[rng.integers(len(PATTERNS))],
        waves=waves.astype(np.float32),
        phases=rng.uniform(0, 2 * np.pi, num_waves).astype(np.float32),
        cell=float(scale),
        offset=(rng.uniform(0.25, 0.75, 3) * scale).astype(np.float32))


def random_light_direction(rng: np.random.Generator) -> np.ndarray:
    """(3,) float32 unit vector towards a light 30-80 degrees above the horizon, from any azimuth."""
    azimuth, elevation = rng.uniform(0, 2 * np.pi), rng.uniform(np.radians(30), np.radians(80))
    light = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    return light.astype(np.float32)


def random_light_levels(rng: np.random.Generator) -> dict:
    """The :class:`Scene` fields ``ambient``, ``diffuse``, ``exposure`` and ``noise_sigma``, drawn in that order."""
    return dict(ambient=float(rng.uniform(0.25, 0.45)), diffuse=float(rng.uniform(0.45, 0.75)),
                exposure=float(rng.uniform(0.9, 1.2)), noise_sigma=float(rng.uniform(1.0, 3.0)))


def camera_rotation(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """Camera-to-world rotation (OpenCV axes: x right, y down, z forward) of a camera looking along ``yaw``
    (radians from the world's +x axis), ``pitch`` radians down and rolled by ``roll``."""
    forward = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), -np.sin(pitch)])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.cross(forward, right)
    c, s = np.cos(roll), np.sin(roll)
    right, down = c * right + s * down, -s * right + c * down
    return np.stack([right, down, forward], axis=1)


def box(lo: Sequence[float], hi: Sequence[float], label: int, material: Material) -> Box:
    return Box(np.asarray(lo, dtype=np.float32), np.asarray(hi, dtype=np.float32), label, material)


def _screen_rect(prim: Primitive, pose: np.ndarray, k: np.ndarray, height: int,
                 width: int) -> Optional[Tuple[slice, slice]]:
    """Pixel window that contains the primitive's projection (None if off screen), to ray cast only there."""
    lo, hi = prim.bounds
    corners = np.array(list(itertools.product(*zip(lo, hi))), dtype=np.float64)
    # Rows of (X - t) R are the corners in camera coordinates, R^T (X - t).
    cam = (corners - pose[:3, 3]) @ pose[:3, :3]
    z = cam[:, 2]
    if (z <= _NEAR).all():
        return None
    if (z <= _NEAR).any():
        # Straddles the image plane: projected corners do not bound it, fall back to the whole image.
        return slice(0, height), slice(0, width)
    u = k[0, 0] * cam[:, 0] / z + k[0, 2]
    v = k[1, 1] * cam[:, 1] / z + k[1, 2]
    u0, u1 = max(int(np.floor(u.min())), 0), min(int(np.ceil(u.max())) + 1, width)
    v0, v1 = max(int(np.floor(v.min())), 0), min(int(np.ceil(v.max())) + 1, height)
    if u0 >= u1 or v0 >= v1:
        return None
    return slice(v0, v1), slice(u0, u1)


def _invalid_depth_mask(depth: np.ndarray, cos_view: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Where a real RGB-D sensor would return no depth: range limit, grazing angles, edge shadows, dropouts."""
    height, width = depth.shape
    invalid = (depth > MAX_DEPTH) | (cos_view < GRAZING_COS)
    # Occlusion shadows: the background pixel next to a depth jump often has no return.
    shadow = np.zeros_like(invalid)
    jump_x = depth[:, 1:] > depth[:, :-1] * (1 + EDGE_JUMP)
    shadow[:, 1:] |= jump_x
    shadow[:, :-1] |= depth[:, :-1] > depth[:, 1:] * (1 + EDGE_JUMP)
    shadow[1:, :] |= depth[1:, :] > depth[:-1, :] * (1 + EDGE_JUMP)
    shadow[:-1, :] |= depth[:-1, :] > depth[1:, :] * (1 + EDGE_JUMP)
    invalid |= shadow & (rng.random(depth.shape, dtype=np.float32) < 0.5)
    # Holes from absorbing or specular patches.
    blobs = np.zeros(depth.shape, dtype=np.uint8)
    short = min(height, width)
    for _ in range(int(rng.poisson(2.0))):
        center = (int(rng.integers(width)), int(rng.integers(height)))
        axes = tuple(max(1, int(round(a))) for a in rng.uniform(0.015, 0.06, 2) * short)
        cv2.ellipse(blobs, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    invalid |= blobs.astype(bool)
    invalid |= rng.random(depth.shape, dtype=np.float32) < 0.004
    return invalid


def render_frame(scene: Scene, pose: np.ndarray, height: int, width: int,
                 rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray casts one RGB-D frame with semantic labels.

    Args:
        scene: Scene from :func:`make_scene`.
        pose: 4x4 camera-to-world matrix (OpenCV camera axes), e.g. from :func:`camera_pose`.
        height: Image height in pixels.
        width: Image width in pixels.
        rng: Randomness of the sensor simulation (image noise, depth noise, depth holes).

    Returns:
        ``(rgb, depth, label)``: (H, W, 3) uint8 RGB; (H, W) float32 z-depth in metres, 0 where invalid;
        (H, W) uint8 NYU40 ids (invalid depth keeps its label).
    """
    pose = np.asarray(pose, dtype=np.float64)
    rot = pose[:3, :3].astype(np.float32)
    origin = pose[:3, 3].astype(np.float32)
    k = camera_intrinsics(height, width)
    xs = ((np.arange(width) - k[0, 2]) / k[0, 0]).astype(np.float32)[None, :]
    ys = ((np.arange(height) - k[1, 2]) / k[1, 1]).astype(np.float32)[:, None]
    # Camera rays (x, y, 1) in world axes; with unit camera z the ray parameter of a hit is its z-depth.
    dirs = tuple(xs * rot[i, 0] + ys * rot[i, 1] + rot[i, 2] for i in range(3))
    for d in dirs:
        # Axis-parallel rays would make 0 * inf = nan in the slab tests.
        d[d == 0] = 1e-9
    inv_dirs = tuple(1.0 / d for d in dirs)

    # The camera is inside the room, so every ray leaves it through the nearest of the six planes.
    depth, surface = None, None
    for axis in range(3):
        positive = dirs[axis] > 0
        t = (positive * scene.size[axis] - origin[axis]) * inv_dirs[axis]
        face = (2 * axis + positive).astype(np.int16)
        if depth is None:
            depth, surface = t, face
        else:
            closer = t < depth
            depth, surface = np.where(closer, t, depth), np.where(closer, face, surface)

    for index, prim in enumerate(scene.objects):
        window = _screen_rect(prim, pose, k, height, width)
        if window is None:
            continue
        t = prim.intersect(origin, tuple(d[window] for d in dirs), tuple(d[window] for d in inv_dirs))
        closer = t < depth[window]
        np.copyto(depth[window], t, where=closer)
        np.copyto(surface[window], len(_ROOM_LABELS) + index, where=closer)

    points = [(origin[i] + dirs[i] * depth).ravel() for i in range(3)]
    normals = np.empty((height * width, 3), dtype=np.float32)
    albedo = np.empty((height * width, 3), dtype=np.float32)
    room_materials = (scene.wall,) * 4 + (scene.floor, scene.ceiling)
    ids = surface.ravel()
    # Pixels grouped by surface so that each surface shades all its pixels in one vectorised call.
    order = np.argsort(ids, kind='stable')
    ends = np.cumsum(np.bincount(ids, minlength=len(_ROOM_LABELS) + len(scene.objects)))
    for sid, (start, end) in enumerate(zip(np.concatenate([[0], ends[:-1]]), ends)):
        if start == end:
            continue
        idx = order[start:end]
        hit = [p[idx] for p in points]
        if sid < len(_ROOM_LABELS):
            normals[idx] = _ROOM_NORMALS[sid]
            albedo[idx] = room_materials[sid].albedo(*hit)
        else:
            prim = scene.objects[sid - len(_ROOM_LABELS)]
            normals[idx] = prim.normal(*hit)
            albedo[idx] = prim.material.albedo(*hit)

    nx, ny, nz = normals[:, 0], normals[:, 1], normals[:, 2]
    lambert = np.maximum(nx * scene.light[0] + ny * scene.light[1] + nz * scene.light[2], 0.0)
    shade = (scene.ambient + scene.diffuse * lambert) * np.float32(255.0 * scene.exposure)
    color = albedo * shade[:, None] + rng.standard_normal(albedo.shape, dtype=np.float32) * scene.noise_sigma
    rgb = np.clip(np.rint(color), 0, 255).astype(np.uint8).reshape(height, width, 3)

    label_lut = np.array(_ROOM_LABELS + tuple(p.label for p in scene.objects), dtype=np.uint8)
    label = label_lut[surface]

    dx, dy, dz = (d.ravel() for d in dirs)
    cos_view = np.abs(nx * dx + ny * dy + nz * dz) / np.sqrt(dx * dx + dy * dy + dz * dz)
    invalid = _invalid_depth_mask(depth, cos_view.reshape(height, width), rng)
    # Axial noise growing with the square of the range, as for structured-light sensors.
    noise = rng.standard_normal(depth.shape, dtype=np.float32) * (np.float32(0.0008) * depth * depth)
    return rgb, np.where(invalid, np.float32(0), depth + noise), label



def keyed_rng(seed: int, *key: int) -> np.random.Generator:
    """The random stream of ``(seed, *key)``, e.g. ``(seed, scene, purpose, frame)``.

    Streams keyed by what they are for rather than drawn in sequence make any split of the work over processes,
    and any generation order, produce the same bytes.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
