"""Benchmark scenes for RGB-D pre-training: every frame its own room, classes that differ only in 3-D shape.

The scenes reuse the ray caster of :mod:`m33d_mm.synthetic.renderer` (materials, primitives, lighting, sensor
simulation) and the writers of :mod:`m33d_mm.synthetic.writers` (file layout) with another scene sampler, built
so that a segmentation probe can only do well by knowing shape:

* every frame is a new random room (size, materials, light) seen from a random camera: yaw anywhere, pitch
  -10..50 degrees (down is positive), roll +-45 degrees, height 0.4-2.4 m, so a patch's place in the image
  says little about its class;
* 2-5 floating objects near the camera, of four classes in two pairs with the same silhouette, size and
  material distribution: ``sphere`` vs ``disc`` (a flat disc facing the camera, its outline the sphere's)
  and ``cube`` vs ``panel`` (a thin square plate turned towards the camera, its outline the cube's area). What
  separates a pair is 3-D shape only: shading across the surface in RGB, the depth profile in depth;
* classes: ``wall``, ``floor``, the four object classes; the ceiling is left unlabelled.

Labels are written as NYU40 ids of classes that the ScanNet-20 mapping keeps (:data:`NYU40_IDS`), so the
project's segmentation datasets and heads read them unchanged. Frames are 64x64 by default, patch 8.

Splits (one frame per "scene" folder, all rooms distinct): ``unlabelled`` (pre-training), ``labelled`` (the
pool that probes and fine-tuning draw their label budget from), ``val`` (hyper-parameters) and ``test``.
Everything is deterministic in ``seed``: frame ``i`` of split ``s`` draws from its own stream ``(seed, s, i)``.
"""
import json
import time
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np

from .cli import check_frame_size, check_int, prepare_output_dir
from .renderer import (FLOOR, WALL, FacingDisc, OrientedBox, Scene, Sphere, camera_intrinsics, keyed_rng,
                       camera_rotation, random_light_direction, random_light_levels, random_material, render_frame)
from .writers import depth_to_mm, write_labelled_frame

__all__ = ['CLASSES', 'NYU40_IDS', 'SPLITS', 'OrientedBox', 'FacingDisc', 'sample_view', 'generate_benchmark',
           'load_benchmark_split']

VERSION = 1
# NYU40 ids whose ScanNet-20 train ids are 0..5 in this order, so a 6-class head reads the labels unchanged
# (the names are the benchmark's)
NYU40_IDS: Dict[str, int] = dict(wall=WALL, floor=FLOOR, sphere=3, disc=4, cube=5, panel=6)
CLASSES = tuple(NYU40_IDS)
SPLITS = ('unlabelled', 'labelled', 'val', 'test')
PAIRS = (('sphere', 'disc'), ('cube', 'panel'))


def _room_distance(origin: np.ndarray, direction: np.ndarray, size: np.ndarray) -> float:
    """Distance along a ray from inside the room to its walls, floor or ceiling."""
    t = np.inf
    for axis in range(3):
        if abs(direction[axis]) > 1e-9:
            plane = size[axis] if direction[axis] > 0 else 0.0
            t = min(t, (plane - origin[axis]) / direction[axis])
    return float(t)


def sample_view(rng: np.random.Generator, height: int = 64, width: int = 64) -> Tuple[Scene, np.ndarray]:
    """One random room with objects in front of a random camera; returns the scene and the 4x4 pose."""
    size = np.array([rng.uniform(3.5, 7.0), rng.uniform(3.5, 7.0), rng.uniform(2.6, 3.4)])
    position = np.array([rng.uniform(0.7, size[0] - 0.7), rng.uniform(0.7, size[1] - 0.7),
                         rng.uniform(0.4, min(2.4, size[2] - 0.3))])
    rot = camera_rotation(rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(-10, 50)), np.radians(rng.uniform(-45, 45)))
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = rot, position
    k = camera_intrinsics(height, width)
    objects = []
    for _ in range(int(rng.integers(2, 6))):
        kind = CLASSES[2 + int(rng.integers(4))]
        # size and distance from one distribution for every class, near enough to cover several patches
        radius = rng.uniform(0.22, 0.45)
        u, v = rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height
        ray = rot @ np.array([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], 1.0])
        ray /= np.linalg.norm(ray)
        room = _room_distance(position, ray, size)
        far = min(3.0, room - 1.8 * radius)
        near = 0.9 + radius
        if far <= near:
            continue
        center = position + ray * rng.uniform(near, far)
        material, label = random_material(rng), NYU40_IDS[kind]
        to_camera = (position - center) / np.linalg.norm(position - center)
        if kind == 'sphere':
            objects.append(Sphere(center.astype(np.float32), float(radius), label, material))
        elif kind == 'disc':
            objects.append(FacingDisc(center.astype(np.float32), float(radius), to_camera, label, material))
        else:
            # cube: random orientation; panel: a thin square plate turned to face the camera (+-25 deg) whose
            # outline has the cube's mean area
            if kind == 'cube':
                q = rng.normal(size=4)
                q /= np.linalg.norm(q)
                w, x, y, z = q
                box_rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                                    [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                                    [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
                half = np.full(3, radius * 0.8)
            else:
                tilt = to_camera + rng.normal(size=3) * 0.25
                tilt /= np.linalg.norm(tilt)
                a = np.cross(tilt, [0.0, 0.0, 1.0] if abs(tilt[2]) < 0.9 else [1.0, 0.0, 0.0])
                a /= np.linalg.norm(a)
                b = np.cross(tilt, a)
                spin = rng.uniform(0, np.pi / 2)
                a, b = np.cos(spin) * a + np.sin(spin) * b, -np.sin(spin) * a + np.cos(spin) * b
                box_rot = np.stack([a, b, tilt], axis=1)
                # sqrt(1.5) wider: a randomly turned cube's mean outline is 1.5 face areas (Cauchy's formula)
                half = np.array([radius * 0.98, radius * 0.98, radius * 0.05])
            objects.append(OrientedBox(center.astype(np.float32), half.astype(np.float32), box_rot.astype(np.float32),
                                       label, material))
    light = random_light_direction(rng)
    scene = Scene(size=size.astype(np.float32), wall=random_material(rng), floor=random_material(rng),
                  ceiling=random_material(rng), objects=tuple(objects), camera=None, light=light,
                  **random_light_levels(rng))
    return scene, pose


def _frame_dir(split: str, index: int) -> str:
    return f'{split}_{index:05d}'


def _render(seed: int, split_code: int, index: int, height: int, width: int):
    scene, pose = sample_view(keyed_rng(seed, split_code, index, 0), height, width)
    return render_frame(scene, pose, height, width, keyed_rng(seed, split_code, index, 1)) + (pose, )


def _write(out: Path, split: str, index: int, frame) -> None:
    rgb, depth, label, pose = frame
    write_labelled_frame(out / _frame_dir(split, index), '000000', rgb, depth, label, pose)


def generate_benchmark(out_dir: Union[str, Path], unlabelled: int = 5000, labelled: int = 800, val: int = 200,
                       test: int = 500, height: int = 64, width: int = 64, seed: int = 0,
                       force: bool = False) -> dict:
    """Writes the benchmark in the ScanNet export layout (one frame per folder) plus ``splits/<split>.txt``,
    ``arrays.npz`` (every split as arrays, for probes) and ``meta.json`` (written last: a finished dataset).

    A complete dataset with the same settings is left as it is (``skipped`` in the summary).

    Raises:
        ValueError: On a bad count or size (the message names the argument).
        FileExistsError: ``out_dir`` holds something else and ``force`` is False.
    """
    counts = dict(unlabelled=check_int('unlabelled', unlabelled, 1), labelled=check_int('labelled', labelled, 1),
                  val=check_int('val', val, 1), test=check_int('test', test, 1))
    height, width = check_frame_size(height, width)
    seed = check_int('seed', seed, 0)
    out = Path(out_dir)
    meta = dict(generator='m33d_mm.synthetic.benchmark', version=VERSION, seed=seed, height=height, width=width,
                classes=list(CLASSES), nyu40_ids=NYU40_IDS, **counts)
    try:
        if json.loads((out / 'meta.json').read_text()) == meta:
            return dict(out_dir=str(out), skipped=True, seconds=0.0, **counts)
    except (OSError, ValueError):
        pass
    owned = (lambda entry: entry.name in ('splits', 'meta.json', 'arrays.npz') or
             (entry.is_dir() and entry.name.split('_')[0] in SPLITS))
    prepare_output_dir(out, meta, owned, force, 'benchmark dataset')
    start = time.perf_counter()
    (out / 'splits').mkdir(exist_ok=True)
    arrays = {}
    for code, split in enumerate(SPLITS):
        frames = [_render(seed, code, i, height, width) for i in range(counts[split])]
        for i, frame in enumerate(frames):
            _write(out, split, i, frame)
        (out / 'splits' / f'{split}.txt').write_text(''.join(f'{_frame_dir(split, i)}\n'
                                                              for i in range(counts[split])))
        arrays[f'{split}_rgb'] = np.stack([f[0] for f in frames])
        arrays[f'{split}_depth'] = np.stack([depth_to_mm(f[1]) for f in frames])
        arrays[f'{split}_label'] = np.stack([f[2] for f in frames])
    np.savez_compressed(out / 'arrays.npz', **arrays)
    (out / 'meta.json').write_text(json.dumps(meta, indent=2) + '\n')
    return dict(out_dir=str(out), skipped=False, seconds=time.perf_counter() - start, **counts)


def load_benchmark_split(root: Union[str, Path], split: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rgb uint8 (N, H, W, 3), depth metres float32 (N, H, W), 0 = invalid, label NYU40 uint8 (N, H, W))``
    of one split, from ``arrays.npz``."""
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got "{split}"')
    path = Path(root) / 'arrays.npz'
    if not path.is_file():
        raise FileNotFoundError(f'{path} not found: generate the benchmark first (generate_benchmark)')
    with np.load(path) as data:
        return (data[f'{split}_rgb'], data[f'{split}_depth'].astype(np.float32) / 1000.0, data[f'{split}_label'])


def class_index(label_nyu40: np.ndarray) -> np.ndarray:
    """NYU40 ids -> benchmark class index 0..5 (:data:`CLASSES` order), 255 elsewhere."""
    lut = np.full(256, 255, np.uint8)
    for i, name in enumerate(CLASSES):
        lut[NYU40_IDS[name]] = i
    return lut[label_nyu40]


def split_summary(root: Union[str, Path], split: str) -> List[float]:
    """Pixel share of each class in a split (for the docs)."""
    labels = class_index(load_benchmark_split(root, split)[2])
    return [float((labels == i).mean()) for i in range(len(CLASSES))]
