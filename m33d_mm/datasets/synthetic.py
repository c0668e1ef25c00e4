"""Procedural RGB-D indoor scenes written in the ScanNet export layout, so the pipeline runs without real data.

Scenes are ray cast with vectorised numpy: a box-shaped room (floor, four walls, ceiling) holding 3-7 pieces of
furniture built from axis-aligned boxes, spheres and vertical cylinders. Semantic classes are tied to geometry
(shape, size and placement) only; every surface draws its colours and procedural texture from one shared
distribution, so colour alone cannot separate classes and a model has to use depth and shape.

World frame: z up, the room spans ``[0, Lx] x [0, Ly] x [0, Lz]``. Camera frame: OpenCV (x right, y down,
z forward); poses are camera-to-world like ScanNet's ``pose/*.txt``. Depth is z-depth along the optical axis.

This module imports only numpy and OpenCV (no models, no registries), so worker processes stay light.
"""
import colorsys
import itertools
import json
import multiprocessing
import operator
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

__all__ = [
    'SCENE_CLASSES', 'GENERATOR', 'VERSION', 'MAX_DEPTH', 'Material', 'Box', 'Sphere', 'Cylinder', 'CameraPath',
    'Scene', 'scene_id', 'camera_intrinsics', 'camera_pose', 'make_scene', 'render_frame', 'generate_dataset',
    'check_int', 'prepare_output_dir', 'run_generator'
]

GENERATOR = 'm33d_mm.synthetic'
VERSION = 1

WALL, FLOOR, CABINET, BED, CHAIR, TABLE, DOOR, CEILING, TOILET, OTHERFURNITURE = 1, 2, 3, 4, 5, 7, 8, 22, 33, 39

# NYU40 ids written to the label PNGs, so the NYU40 -> ScanNet20 mapping of real data applies unchanged.
SCENE_CLASSES: Dict[int, str] = {
    WALL: 'wall',
    FLOOR: 'floor',
    CABINET: 'cabinet',
    BED: 'bed',
    CHAIR: 'chair',
    TABLE: 'table',
    DOOR: 'door',
    CEILING: 'ceiling',
    TOILET: 'toilet',
    OTHERFURNITURE: 'otherfurniture',
}

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

_FRAME_DIGITS = 6
_SCENE_DIR = re.compile(r'scene\d{4}_\d{2}')
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]
_JPEG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, 95]

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


Primitive = Union[Box, Sphere, Cylinder]
Rect = Tuple[float, float, float, float]


@dataclass(frozen=True)
class CameraPath:
    """Smooth, bounded camera trajectory: Lissajous-like drift in x/y plus a slow pan.

    Position, yaw and pitch are sums of low-frequency sines of the frame index, so consecutive frames differ by a
    few centimetres and about a degree (video-like) and the camera stays inside ``center +- amplitude`` however
    many frames are rendered. Angles in radians, frequencies in radians per frame.
    """
    center: np.ndarray
    amplitude: np.ndarray
    freq: np.ndarray
    phase: np.ndarray
    height: float
    height_amp: float
    height_freq: float
    yaw0: float
    yaw_rate: float
    yaw_amp: float
    yaw_freq: float
    pitch: float
    pitch_amp: float
    pitch_freq: float


@dataclass(frozen=True)
class Scene:
    """Everything needed to render any frame of one scene.

    Attributes:
        size: (3,) room extent (Lx, Ly, Lz) in metres.
        wall, floor, ceiling: Room surface materials.
        objects: Furniture primitives; a piece of furniture may span several primitives with one label.
        camera: The camera trajectory.
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
    camera: CameraPath
    light: np.ndarray
    ambient: float
    diffuse: float
    exposure: float
    noise_sigma: float


def scene_id(index: int) -> str:
    """ScanNet-style scene name for scene ``index``, e.g. ``scene0003_00``."""
    return f'scene{index:04d}_00'


def camera_intrinsics(height: int, width: int) -> np.ndarray:
    """3x3 pinhole intrinsics with ScanNet's field of view (fx = fy = 0.9 W) and the principal point centred."""
    focal = 0.9 * width
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def camera_pose(scene: Scene, frame: int) -> np.ndarray:
    """4x4 camera-to-world matrix (OpenCV camera axes) of ``frame`` on the scene's trajectory."""
    path = scene.camera
    i = float(frame)
    x, y = path.center + path.amplitude * np.sin(path.freq * i + path.phase)
    z = path.height + path.height_amp * np.sin(path.height_freq * i)
    yaw = path.yaw0 + path.yaw_rate * i + path.yaw_amp * np.sin(path.yaw_freq * i)
    pitch = path.pitch + path.pitch_amp * np.sin(path.pitch_freq * i)
    forward = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), -np.sin(pitch)])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, down, forward, (x, y, z)
    return pose


def _random_material(rng: np.random.Generator) -> Material:
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


def _box(lo: Sequence[float], hi: Sequence[float], label: int, material: Material) -> Box:
    return Box(np.asarray(lo, dtype=np.float32), np.asarray(hi, dtype=np.float32), label, material)


class _FloorPlan:
    """Rejection sampler of non-overlapping furniture footprints (x0, y0, x1, y1) on the room floor."""

    gap = 0.12
    wall_gap = 0.01

    def __init__(self, rng: np.random.Generator, size: np.ndarray, keep_out: Rect):
        self.rng = rng
        self.size = size
        self.occupied: List[Rect] = [keep_out]

    def _free(self, rect: Rect) -> bool:
        x0, y0, x1, y1 = rect
        if x0 < 0 or y0 < 0 or x1 > self.size[0] or y1 > self.size[1]:
            return False
        g = self.gap
        return all(x1 + g <= a0 or a1 + g <= x0 or y1 + g <= b0 or b1 + g <= y0 for a0, b0, a1, b1 in self.occupied)

    def place(self, width: float, depth: float, against_wall: bool,
              clearance: float = 0.0) -> Optional[Rect]:
        """Finds a free footprint ``width`` along the wall and ``depth`` away from it.

        Args:
            width: Extent parallel to the wall (for free placement: along a random axis).
            depth: Extent perpendicular to the wall.
            against_wall: Whether the back of the footprint touches one of the four walls.
            clearance: Extra floor kept free in front of the object (e.g. a door's swing), not part of the rect.

        Returns:
            The footprint, or None if no free spot was found.
        """
        lx, ly = float(self.size[0]), float(self.size[1])
        for _ in range(30):
            # Walls 0..3 are x=0, x=Lx, y=0, y=Ly; -1 places the footprint freely.
            wall = int(self.rng.integers(4)) if against_wall else -1
            if wall in (0, 1) or (wall == -1 and self.rng.random() < 0.5):
                dx, dy = depth, width
            else:
                dx, dy = width, depth
            if dx > lx - 0.1 or dy > ly - 0.1:
                continue
            x0 = self.rng.uniform(self.wall_gap, lx - dx - self.wall_gap)
            y0 = self.rng.uniform(self.wall_gap, ly - dy - self.wall_gap)
            grow = [0.0, 0.0, 0.0, 0.0]
            if wall == 0:
                x0 = self.wall_gap
                grow[2] = clearance
            elif wall == 1:
                x0 = lx - dx - self.wall_gap
                grow[0] = clearance
            elif wall == 2:
                y0 = self.wall_gap
                grow[3] = clearance
            elif wall == 3:
                y0 = ly - dy - self.wall_gap
                grow[1] = clearance
            rect = (x0, y0, x0 + dx, y0 + dy)
            reserved = (rect[0] - grow[0], rect[1] - grow[1], rect[2] + grow[2], rect[3] + grow[3])
            reserved = (max(reserved[0], 0.0), max(reserved[1], 0.0), min(reserved[2], lx), min(reserved[3], ly))
            if self._free(reserved):
                self.occupied.append(reserved)
                return rect
        return None


# Furniture makers: each places one piece on ``plan`` and returns its primitives (all with the class label of the
# piece), or [] if it did not fit. ``tops`` collects table tops that small objects may stand on.


def _make_cabinet(rng, plan, tops):
    spot = plan.place(rng.uniform(0.4, 1.0), rng.uniform(0.35, 0.6), against_wall=rng.random() < 0.8)
    if spot is None:
        return []
    x0, y0, x1, y1 = spot
    return [_box((x0, y0, 0), (x1, y1, rng.uniform(1.2, 2.1)), CABINET, _random_material(rng))]


def _make_bed(rng, plan, tops):
    spot = plan.place(rng.uniform(1.4, 2.0), rng.uniform(1.9, 2.2), against_wall=rng.random() < 0.9)
    if spot is None:
        return []
    x0, y0, x1, y1 = spot
    return [_box((x0, y0, 0), (x1, y1, rng.uniform(0.4, 0.65)), BED, _random_material(rng))]


def _make_door(rng, plan, tops):
    height = min(rng.uniform(1.95, 2.15), float(plan.size[2]) - 0.1)
    spot = plan.place(rng.uniform(0.8, 1.0), rng.uniform(0.03, 0.05), against_wall=True, clearance=0.7)
    if spot is None:
        return []
    x0, y0, x1, y1 = spot
    return [_box((x0, y0, 0), (x1, y1, height), DOOR, _random_material(rng))]


def _make_table(rng, plan, tops):
    spot = plan.place(rng.uniform(0.8, 1.8), rng.uniform(0.6, 1.0), against_wall=rng.random() < 0.3)
    if spot is None:
        return []
    x0, y0, x1, y1 = spot
    height, thickness = rng.uniform(0.68, 0.8), rng.uniform(0.03, 0.06)
    material = _random_material(rng)
    parts = [_box((x0, y0, height - thickness), (x1, y1, height), TABLE, material)]
    tops.append(parts[0])
    if rng.random() < 0.75:
        leg, inset = rng.uniform(0.04, 0.07), 0.03
        for lx, ly in itertools.product((x0 + inset, x1 - inset - leg), (y0 + inset, y1 - inset - leg)):
            parts.append(_box((lx, ly, 0), (lx + leg, ly + leg, height - thickness), TABLE, material))
    else:
        half = rng.uniform(0.05, 0.08)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        parts.append(_box((cx - half, cy - half, 0), (cx + half, cy + half, height - thickness), TABLE, material))
    return parts


def _make_chair(rng, plan, tops):
    seat = rng.uniform(0.4, 0.5)
    spot = plan.place(seat, seat, against_wall=False)
    if spot is None:
        return []
    x0, y0, x1, y1 = spot
    seat_h, back_h, back_t = rng.uniform(0.42, 0.5), rng.uniform(0.35, 0.5), rng.uniform(0.04, 0.06)
    material = _random_material(rng)
    side = int(rng.integers(4))
    back_lo = [x0, y0, seat_h]
    back_hi = [x1, y1, seat_h + back_h]
    if side == 0:
        back_hi[0] = x0 + back_t
    elif side == 1:
        back_lo[0] = x1 - back_t
    elif side == 2:
        back_hi[1] = y0 + back_t
    else:
        back_lo[1] = y1 - back_t
    return [_box((x0, y0, 0), (x1, y1, seat_h), CHAIR, material), _box(back_lo, back_hi, CHAIR, material)]


def _make_sphere(rng, plan, tops):
    if tops and rng.random() < 0.5:
        # Resting on a table top; one object per table so that nothing interpenetrates.
        top = tops.pop(int(rng.integers(len(tops))))
        extent = top.hi[:2] - top.lo[:2]
        radius = min(rng.uniform(0.08, 0.2), float(extent.min()) / 2 - 0.01)
        xy = top.lo[:2] + radius + rng.random(2) * (extent - 2 * radius)
        center = np.array([xy[0], xy[1], top.hi[2] + radius], dtype=np.float32)
        return [Sphere(center, float(radius), OTHERFURNITURE, _random_material(rng))]
    radius = rng.uniform(0.15, 0.4)
    spot = plan.place(2 * radius, 2 * radius, against_wall=False)
    if spot is None:
        return []
    x0, y0, x1, y1 = spot
    center = np.array([(x0 + x1) / 2, (y0 + y1) / 2, radius], dtype=np.float32)
    return [Sphere(center, float(radius), OTHERFURNITURE, _random_material(rng))]


def _make_cylinder(rng, plan, tops):
    radius = rng.uniform(0.12, 0.3)
    spot = plan.place(2 * radius, 2 * radius, against_wall=False)
    if spot is None:
        return []
    x0, y0, x1, y1 = spot
    center = np.array([(x0 + x1) / 2, (y0 + y1) / 2], dtype=np.float32)
    return [Cylinder(center, float(radius), 0.0, float(rng.uniform(0.4, 0.85)), TOILET, _random_material(rng))]


_OBJECT_MAKERS = (_make_cabinet, _make_bed, _make_door, _make_table, _make_chair, _make_sphere, _make_cylinder)
_OBJECT_WEIGHTS = np.array([2.0, 1.0, 1.0, 2.0, 2.0, 1.5, 1.5]) / 11.0


def make_scene(rng: np.random.Generator) -> Scene:
    """Samples a room, its furniture (3-7 objects), lighting and camera trajectory.

    Args:
        rng: Source of all randomness; the same generator state gives the same scene.

    Returns:
        The scene description.
    """
    size = np.array([rng.uniform(4.0, 7.0), rng.uniform(4.0, 7.0), rng.uniform(2.5, 3.2)])
    amplitude = rng.uniform(0.2, 0.6, 2)
    # The camera keeps a metre from the walls so that views are of the room, not of a wall at arm's length.
    center = np.array([rng.uniform(1.0 + a, s - 1.0 - a) for a, s in zip(amplitude, size[:2])])
    # Furniture stays clear of everywhere the camera goes, so the camera never ends up inside an object.
    keep_out = (*(center - amplitude - 0.4), *(center + amplitude + 0.4))
    plan = _FloorPlan(rng, size, keep_out)
    tops: List[Box] = []
    objects: List[Primitive] = []
    wanted, placed = int(rng.integers(3, 8)), 0
    for _ in range(4 * wanted):
        if placed == wanted:
            break
        parts = _OBJECT_MAKERS[rng.choice(len(_OBJECT_MAKERS), p=_OBJECT_WEIGHTS)](rng, plan, tops)
        if parts:
            objects.extend(parts)
            placed += 1

    # Start out looking at some piece of furniture so that frames show more than bare walls.
    target = np.mean(objects[int(rng.integers(len(objects)))].bounds, axis=0)[:2] if objects else size[:2] / 2
    to_target = target - center
    camera = CameraPath(
        center=center,
        amplitude=amplitude,
        freq=rng.uniform(0.03, 0.07, 2),
        phase=rng.uniform(0, 2 * np.pi, 2),
        height=rng.uniform(1.2, 1.6),
        height_amp=rng.uniform(0.0, 0.1),
        height_freq=rng.uniform(0.02, 0.05),
        yaw0=float(np.arctan2(to_target[1], to_target[0]) + rng.uniform(-0.35, 0.35)),
        yaw_rate=float(rng.choice([-1, 1]) * np.radians(rng.uniform(0.5, 2.0))),
        yaw_amp=float(np.radians(rng.uniform(5, 20))),
        yaw_freq=rng.uniform(0.04, 0.1),
        pitch=float(np.radians(rng.uniform(5, 22))),
        pitch_amp=float(np.radians(rng.uniform(0, 5))),
        pitch_freq=rng.uniform(0.03, 0.08))

    azimuth, elevation = rng.uniform(0, 2 * np.pi), rng.uniform(np.radians(30), np.radians(80))
    light = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    return Scene(
        size=size.astype(np.float32),
        wall=_random_material(rng),
        floor=_random_material(rng),
        ceiling=_random_material(rng),
        objects=tuple(objects),
        camera=camera,
        light=light.astype(np.float32),
        ambient=float(rng.uniform(0.25, 0.45)),
        diffuse=float(rng.uniform(0.45, 0.75)),
        exposure=float(rng.uniform(0.9, 1.2)),
        noise_sigma=float(rng.uniform(1.0, 3.0)))


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


def _seeded_rng(seed: int, *key: int) -> np.random.Generator:
    # Streams keyed by (scene, purpose, frame) rather than drawn in sequence, so that any split of the work over
    # processes produces the same bytes.
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _frame_name(frame: int) -> str:
    return f'{frame:0{_FRAME_DIGITS}d}'


def _write_matrix(path: Path, matrix: np.ndarray) -> None:
    path.write_text('\n'.join(' '.join(f'{v:.6f}' for v in row) for row in matrix) + '\n')


def _generate_scene(out_dir: str, seed: int, index: int, frames: int, height: int, width: int) -> int:
    """Renders and writes all frames of scene ``index``; returns the number of frames written."""
    scene = make_scene(_seeded_rng(seed, index, 0))
    root = Path(out_dir) / scene_id(index)
    for sub in ('color', 'depth', 'label', 'pose'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    intrinsic = np.eye(4)
    intrinsic[:3, :3] = camera_intrinsics(height, width)
    _write_matrix(root / 'intrinsic.txt', intrinsic)
    for frame in range(frames):
        pose = camera_pose(scene, frame)
        rgb, depth, label = render_frame(scene, pose, height, width, _seeded_rng(seed, index, 1, frame))
        name = _frame_name(frame)
        depth_mm = np.clip(np.rint(depth * 1000.0), 0, 65535).astype(np.uint16)
        ok = cv2.imwrite(str(root / 'color' / f'{name}.jpg'), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), _JPEG_PARAMS)
        ok &= cv2.imwrite(str(root / 'depth' / f'{name}.png'), depth_mm, _PNG_PARAMS)
        ok &= cv2.imwrite(str(root / 'label' / f'{name}.png'), label, _PNG_PARAMS)
        if not ok:
            raise OSError(f'OpenCV failed to write frame {name} of {root}')
        _write_matrix(root / 'pose' / f'{name}.txt', pose)
    return frames


def _generate_scene_star(args: Tuple[str, int, int, int, int, int]) -> int:
    return _generate_scene(*args)


def check_int(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, or a ValueError naming ``name``."""
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f'{name} must be an integer, got {value!r}') from None
    if value < minimum:
        raise ValueError(f'{name} must be >= {minimum}, got {value}')
    return value


def _is_complete(out: Path, meta: dict, splits: Dict[str, List[str]], frames: int) -> bool:
    meta_file = out / 'meta.json'
    try:
        if json.loads(meta_file.read_text()) != meta:
            return False
    except (OSError, ValueError):
        return False
    for split, ids in splits.items():
        path = out / 'splits' / f'{split}.txt'
        if not path.is_file() or path.read_text().split() != ids:
            return False
    for sid in itertools.chain.from_iterable(splits.values()):
        root = out / sid
        if not (root / 'intrinsic.txt').is_file():
            return False
        for frame in range(frames):
            name = _frame_name(frame)
            for rel in (f'color/{name}.jpg', f'depth/{name}.png', f'label/{name}.png', f'pose/{name}.txt'):
                if not (root / rel).is_file():
                    return False
    return True


def _is_generated(entry: Path) -> bool:
    """What this generator writes: scene folders, ``splits`` and ``meta.json``."""
    return (entry.is_dir() and (_SCENE_DIR.fullmatch(entry.name) is not None or entry.name == 'splits')) or \
        entry.name == 'meta.json'


def prepare_output_dir(out: Path, meta: dict, generated: Union[Sequence[str], Callable[[Path], bool]], force: bool,
                       what: str) -> None:
    """Make ``out`` ready for a fresh dataset (shared by the synthetic generators).

    A non-empty ``out`` is refused unless ``force``; then only the generator's own entries are removed
    (``generated``: their names, or a predicate on each entry), so nothing else in the folder is lost.
    """
    if out.exists() and not out.is_dir():
        raise FileExistsError(f'{out} exists and is not a directory')
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f'{out} is not empty and does not hold a complete {what} with '
                                  f'these settings ({json.dumps(meta)}); choose another directory or pass '
                                  'force=True (--force) to replace it')
        owned = generated if callable(generated) else (lambda entry: entry.name in generated)
        for entry in list(out.iterdir()):
            if not owned(entry):
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)


def run_generator(generate: Callable[..., dict], options: dict, describe: Callable[[dict], Tuple[str, str]]) -> int:
    """Command-line body shared by the synthetic generators (``tools/data/generate_synthetic_*.py``).

    Calls ``generate(**options)``; a bad argument or an occupied output folder prints ``error: ...`` and gives
    exit status 2. Otherwise prints one summary line: ``describe(summary)`` returns the splits (e.g.
    ``"6 train / 2 val scenes"``) and what was written (e.g. ``"128 frames"``); the rate is added when the
    summary has ``frames_per_second``. Returns the exit status.
    """
    import sys
    try:
        summary = generate(**options)
    except (ValueError, FileExistsError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    splits, written = describe(summary)
    if summary['skipped']:
        print(f"{summary['out_dir']}: complete dataset with these settings already present ({splits}), "
              'nothing written')
    else:
        rate = f", {summary['frames_per_second']:.1f} frames/s" if 'frames_per_second' in summary else ''
        print(f"{summary['out_dir']}: wrote {written} ({splits}) in {summary['seconds']:.1f} s{rate}")
    return 0


def generate_dataset(out_dir: Union[str, Path],
                     num_scenes: int = 8,
                     frames_per_scene: int = 16,
                     height: int = 240,
                     width: int = 320,
                     seed: int = 0,
                     val_scenes: int = 2,
                     workers: int = 1,
                     force: bool = False) -> dict:
    """Writes a synthetic RGB-D dataset in the ScanNet export layout.

    Layout: ``<scene>/{color/*.jpg, depth/*.png (uint16 mm, 0 = invalid), label/*.png (uint8 NYU40),
    pose/*.txt (4x4 camera-to-world), intrinsic.txt}``, ``splits/{train,val}.txt`` and ``meta.json``. The last
    ``val_scenes`` scenes form the val split. Output depends only on the arguments (not on ``workers``), and
    ``meta.json`` is written last, so its presence marks a finished dataset.

    Args:
        out_dir: Output directory; created if missing.
        num_scenes: Number of scenes.
        frames_per_scene: Frames rendered along each scene's camera trajectory.
        height: Image height in pixels (>= 16).
        width: Image width in pixels (>= 16).
        seed: Non-negative master seed; scene ``i`` uses a stream derived from ``(seed, i)``.
        val_scenes: Scenes in the val split, ``0 <= val_scenes < num_scenes``.
        workers: Processes rendering scenes in parallel.
        force: Replace a different or partial dataset in ``out_dir`` (only the generator's own entries are
            removed).

    Returns:
        Summary with ``out_dir``, ``skipped`` (True if the same dataset was already complete), ``frames_written``,
        ``seconds``, ``frames_per_second`` and the ``train``/``val`` scene ids.

    Raises:
        ValueError: On invalid arguments; the message names the argument.
        FileExistsError: If ``out_dir`` holds anything but the requested dataset and ``force`` is False.
    """
    height = check_int('height', height, 16)
    width = check_int('width', width, 16)
    frames_per_scene = check_int('frames_per_scene', frames_per_scene, 1)
    val_scenes = check_int('val_scenes', val_scenes, 0)
    num_scenes = check_int('num_scenes', num_scenes, 1)
    if num_scenes <= val_scenes:
        raise ValueError(f'num_scenes must be greater than val_scenes, got num_scenes={num_scenes}, '
                         f'val_scenes={val_scenes}')
    seed = check_int('seed', seed, 0)
    workers = check_int('workers', workers, 1)

    out = Path(out_dir)
    meta = dict(generator=GENERATOR, version=VERSION, seed=seed, height=height, width=width, num_scenes=num_scenes,
                frames_per_scene=frames_per_scene, val_scenes=val_scenes, label_format='nyu40')
    ids = [scene_id(i) for i in range(num_scenes)]
    splits = dict(train=ids[:num_scenes - val_scenes], val=ids[num_scenes - val_scenes:])
    summary = dict(out_dir=str(out), skipped=False, frames_written=0, seconds=0.0, frames_per_second=0.0, **splits)

    if _is_complete(out, meta, splits, frames_per_scene):
        summary['skipped'] = True
        return summary
    prepare_output_dir(out, meta, _is_generated, force, 'synthetic dataset')

    start = time.perf_counter()
    tasks = [(str(out), seed, i, frames_per_scene, height, width) for i in range(num_scenes)]
    if workers > 1:
        with multiprocessing.Pool(min(workers, num_scenes)) as pool:
            written = sum(pool.imap_unordered(_generate_scene_star, tasks))
    else:
        written = sum(_generate_scene(*task) for task in tasks)

    (out / 'splits').mkdir(exist_ok=True)
    for split, split_ids in splits.items():
        (out / 'splits' / f'{split}.txt').write_text(''.join(f'{sid}\n' for sid in split_ids))
    (out / 'meta.json').write_text(json.dumps(meta, indent=2) + '\n')

    seconds = time.perf_counter() - start
    summary.update(frames_written=written, seconds=seconds, frames_per_second=written / max(seconds, 1e-9))
    return summary
