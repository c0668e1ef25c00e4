"""Procedural RGB-D indoor scenes written in the ScanNet export layout, so the pipeline runs without real data.

Scenes are rendered with :mod:`m33d_mm.synthetic.renderer`: a box-shaped room holding 3-7 pieces of furniture
built from axis-aligned boxes, spheres and vertical cylinders, seen along a smooth camera trajectory. Semantic
classes are tied to geometry (shape, size and placement) only; every surface draws its colours and procedural
texture from one shared distribution, so colour alone cannot separate classes and a model has to use depth and
shape.

This module imports only numpy and OpenCV (no models, no registries), so worker processes stay light.
"""
import itertools
import json
import multiprocessing
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from .cli import check_frame_size, check_int, prepare_output_dir
from .renderer import (CEILING, FLOOR, MAX_DEPTH, WALL, Box, Cylinder, Material, Primitive, Scene, Sphere, box,
                       camera_intrinsics, camera_rotation, keyed_rng, random_light_direction, random_light_levels,
                       random_material, render_frame)
from .writers import frame_name, write_labelled_frame, write_matrix

__all__ = [
    'SCENE_CLASSES', 'GENERATOR', 'VERSION', 'MAX_DEPTH', 'Material', 'Box', 'Sphere', 'Cylinder', 'CameraPath',
    'Scene', 'scene_id', 'camera_intrinsics', 'camera_pose', 'make_scene', 'render_frame', 'generate_dataset'
]

GENERATOR = 'm33d_mm.synthetic'
VERSION = 1

CABINET, BED, CHAIR, TABLE, DOOR, TOILET, OTHERFURNITURE = 3, 4, 5, 7, 8, 33, 39

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

_SCENE_DIR = re.compile(r'scene\d{4}_\d{2}')
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



def scene_id(index: int) -> str:
    """ScanNet-style scene name for scene ``index``, e.g. ``scene0003_00``."""
    return f'scene{index:04d}_00'



def camera_pose(scene: Scene, frame: int) -> np.ndarray:
    """4x4 camera-to-world matrix (OpenCV camera axes) of ``frame`` on the scene's trajectory."""
    path = scene.camera
    i = float(frame)
    x, y = path.center + path.amplitude * np.sin(path.freq * i + path.phase)
    z = path.height + path.height_amp * np.sin(path.height_freq * i)
    yaw = path.yaw0 + path.yaw_rate * i + path.yaw_amp * np.sin(path.yaw_freq * i)
    pitch = path.pitch + path.pitch_amp * np.sin(path.pitch_freq * i)
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = camera_rotation(yaw, pitch), (x, y, z)
    return pose



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


def _standing_block(rng, spot: Optional[Rect], heights: Tuple[float, float], label: int) -> List[Box]:
    """A block on the floor over ``spot``, of a height drawn from ``heights``; [] if no spot was found."""
    if spot is None:
        return []
    x0, y0, x1, y1 = spot
    return [box((x0, y0, 0), (x1, y1, rng.uniform(*heights)), label, random_material(rng))]


def _make_cabinet(rng, plan, tops):
    spot = plan.place(rng.uniform(0.4, 1.0), rng.uniform(0.35, 0.6), against_wall=rng.random() < 0.8)
    return _standing_block(rng, spot, (1.2, 2.1), CABINET)


def _make_bed(rng, plan, tops):
    spot = plan.place(rng.uniform(1.4, 2.0), rng.uniform(1.9, 2.2), against_wall=rng.random() < 0.9)
    return _standing_block(rng, spot, (0.4, 0.65), BED)


def _make_door(rng, plan, tops):
    height = min(rng.uniform(1.95, 2.15), float(plan.size[2]) - 0.1)
    spot = plan.place(rng.uniform(0.8, 1.0), rng.uniform(0.03, 0.05), against_wall=True, clearance=0.7)
    if spot is None:
        return []
    x0, y0, x1, y1 = spot
    return [box((x0, y0, 0), (x1, y1, height), DOOR, random_material(rng))]


def _make_table(rng, plan, tops):
    spot = plan.place(rng.uniform(0.8, 1.8), rng.uniform(0.6, 1.0), against_wall=rng.random() < 0.3)
    if spot is None:
        return []
    x0, y0, x1, y1 = spot
    height, thickness = rng.uniform(0.68, 0.8), rng.uniform(0.03, 0.06)
    material = random_material(rng)
    parts = [box((x0, y0, height - thickness), (x1, y1, height), TABLE, material)]
    tops.append(parts[0])
    if rng.random() < 0.75:
        leg, inset = rng.uniform(0.04, 0.07), 0.03
        for lx, ly in itertools.product((x0 + inset, x1 - inset - leg), (y0 + inset, y1 - inset - leg)):
            parts.append(box((lx, ly, 0), (lx + leg, ly + leg, height - thickness), TABLE, material))
    else:
        half = rng.uniform(0.05, 0.08)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        parts.append(box((cx - half, cy - half, 0), (cx + half, cy + half, height - thickness), TABLE, material))
    return parts


def _make_chair(rng, plan, tops):
    seat = rng.uniform(0.4, 0.5)
    spot = plan.place(seat, seat, against_wall=False)
    if spot is None:
        return []
    x0, y0, x1, y1 = spot
    seat_h, back_h, back_t = rng.uniform(0.42, 0.5), rng.uniform(0.35, 0.5), rng.uniform(0.04, 0.06)
    material = random_material(rng)
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
    return [box((x0, y0, 0), (x1, y1, seat_h), CHAIR, material), box(back_lo, back_hi, CHAIR, material)]


def _make_sphere(rng, plan, tops):
    if tops and rng.random() < 0.5:
        # Resting on a table top; one object per table so that nothing interpenetrates.
        top = tops.pop(int(rng.integers(len(tops))))
        extent = top.hi[:2] - top.lo[:2]
        radius = min(rng.uniform(0.08, 0.2), float(extent.min()) / 2 - 0.01)
        xy = top.lo[:2] + radius + rng.random(2) * (extent - 2 * radius)
        center = np.array([xy[0], xy[1], top.hi[2] + radius], dtype=np.float32)
        return [Sphere(center, float(radius), OTHERFURNITURE, random_material(rng))]
    radius = rng.uniform(0.15, 0.4)
    spot = plan.place(2 * radius, 2 * radius, against_wall=False)
    if spot is None:
        return []
    x0, y0, x1, y1 = spot
    center = np.array([(x0 + x1) / 2, (y0 + y1) / 2, radius], dtype=np.float32)
    return [Sphere(center, float(radius), OTHERFURNITURE, random_material(rng))]


def _make_cylinder(rng, plan, tops):
    radius = rng.uniform(0.12, 0.3)
    spot = plan.place(2 * radius, 2 * radius, against_wall=False)
    if spot is None:
        return []
    x0, y0, x1, y1 = spot
    center = np.array([(x0 + x1) / 2, (y0 + y1) / 2], dtype=np.float32)
    return [Cylinder(center, float(radius), 0.0, float(rng.uniform(0.4, 0.85)), TOILET, random_material(rng))]


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

    light = random_light_direction(rng)
    return Scene(
        size=size.astype(np.float32),
        wall=random_material(rng),
        floor=random_material(rng),
        ceiling=random_material(rng),
        objects=tuple(objects),
        camera=camera,
        light=light,
        **random_light_levels(rng))


def _generate_scene(out_dir: str, seed: int, index: int, frames: int, height: int, width: int) -> int:
    """Renders and writes all frames of scene ``index``; returns the number of frames written."""
    scene = make_scene(keyed_rng(seed, index, 0))
    root = Path(out_dir) / scene_id(index)
    root.mkdir(parents=True, exist_ok=True)
    intrinsic = np.eye(4)
    intrinsic[:3, :3] = camera_intrinsics(height, width)
    write_matrix(root / 'intrinsic.txt', intrinsic)
    for frame in range(frames):
        pose = camera_pose(scene, frame)
        rgb, depth, label = render_frame(scene, pose, height, width, keyed_rng(seed, index, 1, frame))
        write_labelled_frame(root, frame_name(frame), rgb, depth, label, pose)
    return frames


def _generate_scene_star(args: Tuple[str, int, int, int, int, int]) -> int:
    return _generate_scene(*args)


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
            name = frame_name(frame)
            for rel in (f'color/{name}.jpg', f'depth/{name}.png', f'label/{name}.png', f'pose/{name}.txt'):
                if not (root / rel).is_file():
                    return False
    return True


def _is_generated(entry: Path) -> bool:
    """What this generator writes: scene folders, ``splits`` and ``meta.json``."""
    return (entry.is_dir() and (_SCENE_DIR.fullmatch(entry.name) is not None or entry.name == 'splits')) or \
        entry.name == 'meta.json'


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
    height, width = check_frame_size(height, width)
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
