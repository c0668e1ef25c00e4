"""Procedural RGB-D videos whose label is the way an object moves, so that depth carries the signal.

Each video shows a sphere in front of a back wall and above a floor (sometimes beside a side wall), seen by a
static pinhole camera, ray cast with vectorised numpy. The label is the sphere's motion:

====  ===============  =========================================================================================
id    name             motion
====  ===============  =========================================================================================
0     left_right       oscillates sideways at constant depth
1     toward_away      oscillates along the viewing direction: in RGB only its size changes, in depth its values
2     orbit            circles a vertical axis: sideways and in depth at once
3     bounce           bounces on the floor
4     static           does not move
====  ===============  =========================================================================================

Colours, textures, sizes, positions, speeds and phases are drawn from one distribution for every class, so
only motion separates them. Depth is z-depth along the optical axis with range-dependent noise and a few
dropped readings, stored as uint16 millimetres (0 = missing).

The dataset is written in the layout :class:`~m33d_mm.datasets.rgbd_video.RGBDVideoDataset` reads (a UCF-101
style tree)::

    videos/<class>/<video>.mp4            RGB (mp4v), or frames/<class>/<video>/<frame:06d>.jpg
    depth/<class>/<video>/<frame:06d>.png uint16 mm, plus depth_meta.json
    annotations/{train,val}.txt           "<rgb> <depth_dir> <label>" relative to the root
    annotations/classes.txt               one class name per line, line i = label i
    meta.json                             generation settings, written last (marks a finished dataset)

Frames are ray cast by the image generators' renderer (:func:`m33d_mm.synthetic.renderer.render_frame`): the same
materials, lighting and depth-sensor simulation (range-dependent noise and the holes of structured-light
sensors), a room whose walls outside the view are out of sight, and the sphere as a renderer primitive whose
texture moves and turns with it. Only numpy and OpenCV are used; streams, file names and image encodings are
those of the other generators (:mod:`m33d_mm.synthetic.renderer`, :mod:`m33d_mm.synthetic.writers`).
"""
import dataclasses
import json
import time
from pathlib import Path
from typing import Dict, List, Tuple, Union

import cv2
import numpy as np

from .cli import check_frame_size, check_int, prepare_output_dir
from .renderer import (AttachedMaterial, Scene, Sphere, camera_rotation, keyed_rng, random_light_direction,
                       random_light_levels, random_material, render_frame)
from .writers import JPEG_PARAMS, PNG_PARAMS, depth_to_mm, frame_name

__all__ = ['MOTION_CLASSES', 'GENERATOR', 'VERSION', 'sample_video_params', 'render_video', 'generate_video_dataset']

GENERATOR = 'm33d_mm.synthetic_video'
# 2: frames from the shared renderer (version 1 had a caster of its own)
VERSION = 2
MOTION_CLASSES = ('left_right', 'toward_away', 'orbit', 'bounce', 'static')

_GENERATED = ('videos', 'frames', 'depth', 'annotations', 'meta.json')
# Walls the scene does not place are this far to the side of the camera, out of the field of view of any frame
# no taller than it is wide; the ceiling is this high above the camera.
_OUT_OF_SIGHT = 6.0
# The room's back, behind the camera.
_BEHIND = 0.5
# NYU40 "otherprop"; the videos carry no per-pixel labels
_SPHERE_LABEL = 40


def sample_video_params(rng: np.random.Generator, label: int, num_frames: int) -> dict:
    """Scene and trajectory of one video of class ``label`` (positions in the camera frame: x right, y down,
    z forward)."""
    if not 0 <= label < len(MOTION_CLASSES):
        raise ValueError(f'label must be in [0, {len(MOTION_CLASSES)}), got {label}')
    radius = rng.uniform(0.3, 0.5)
    camera_height = rng.uniform(0.9, 1.3)
    lift = rng.uniform(0.1, 0.5)
    light = random_light_direction(rng)
    params = dict(
        label=label,
        radius=radius,
        camera_height=camera_height,
        wall_z=rng.uniform(5.5, 7.5),
        side_wall=float(rng.choice([-1.0, 1.0]) * rng.uniform(1.6, 2.4)) if rng.random() < 0.5 else None,
        centre=np.array([rng.uniform(-0.25, 0.25), camera_height - radius - lift, rng.uniform(2.8, 3.4)]),
        # one full period takes between half and all of the video, so any 8-16 frame window shows motion
        omega=2 * np.pi / (num_frames * rng.uniform(0.5, 1.0)),
        phase=rng.uniform(0, 2 * np.pi),
        amplitude=rng.uniform(0.6, 0.9) if label != 1 else rng.uniform(0.8, 1.2),
        materials=dict(wall=random_material(rng), floor=random_material(rng), ceiling=random_material(rng),
                       object=random_material(rng)),
        lighting=dict(light=light, **random_light_levels(rng)),
        spin_axis=rng.normal(size=3),
        # the camera looks slightly down, so the back wall is not one constant depth across the frame
        pitch=float(np.radians(rng.uniform(4.0, 14.0))),
        noise_seed=int(rng.integers(2**31)))
    params['spin_axis'] /= np.linalg.norm(params['spin_axis'])
    return params


def _object_centre(params: dict, frame: int) -> np.ndarray:
    centre = params['centre'].copy()
    angle = params['omega'] * frame + params['phase']
    amp = params['amplitude']
    label = MOTION_CLASSES[params['label']]
    if label == 'left_right':
        centre[0] += amp * np.sin(angle)
    elif label == 'toward_away':
        centre[2] += amp * np.sin(angle)
    elif label == 'orbit':
        centre[0] += amp * np.cos(angle)
        centre[2] += amp * np.sin(angle)
    elif label == 'bounce':
        # resting on the floor at the bottom of each hop
        centre[1] = params['camera_height'] - params['radius'] - amp * abs(np.sin(angle))
    return centre


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix of ``angle`` radians about the unit vector ``axis`` (Rodrigues)."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def video_scene(params: dict) -> Tuple[Scene, np.ndarray, np.ndarray]:
    """The room of a video as a renderer :class:`Scene` without objects, the 4x4 camera-to-world pose of the
    static camera (looking along the world's +y axis at the back wall, pitched down by ``params['pitch']``) and
    the pose of the level camera frame that object positions are given in."""
    side = params['side_wall']
    left = -side if side is not None and side < 0 else _OUT_OF_SIGHT
    right = side if side is not None and side > 0 else _OUT_OF_SIGHT
    height = params['camera_height']
    size = np.array([left + right, _BEHIND + params['wall_z'], height + _OUT_OF_SIGHT], dtype=np.float32)
    materials = params['materials']
    scene = Scene(size=size, wall=materials['wall'], floor=materials['floor'], ceiling=materials['ceiling'],
                  objects=(), camera=None, **params['lighting'])
    # looking along the world's +y axis (yaw 90 degrees), level for object positions, pitched for the camera
    level, pose = np.eye(4), np.eye(4)
    level[:3, :3], pose[:3, :3] = camera_rotation(np.pi / 2, 0.0), camera_rotation(np.pi / 2, params['pitch'])
    level[:3, 3] = pose[:3, 3] = [left, _BEHIND, height]
    return scene, pose, level


def render_video(params: dict, num_frames: int, height: int, width: int) -> Tuple[np.ndarray, np.ndarray]:
    """Render one video.

    Returns:
        tuple: RGB ``(T, H, W, 3)`` uint8 and depth ``(T, H, W)`` float32 metres (0 = missing).
    """
    room, pose, level = video_scene(params)
    rgbs = np.empty((num_frames, height, width, 3), np.uint8)
    depths = np.empty((num_frames, height, width), np.float32)
    for frame in range(num_frames):
        centre = level[:3, :3] @ _object_centre(params, frame) + level[:3, 3]
        # texture fixed to the sphere, which spins slowly so that it looks alive in every class
        spin = _rotation(params['spin_axis'], 0.05 * frame)
        material = AttachedMaterial(params['materials']['object'], centre.astype(np.float32),
                                    spin.astype(np.float32))
        sphere = Sphere(centre.astype(np.float32), float(params['radius']), _SPHERE_LABEL, material)
        scene = dataclasses.replace(room, objects=(sphere, ))
        rgbs[frame], depths[frame], _ = render_frame(scene, pose, height, width,
                                                     keyed_rng(params['noise_seed'], frame))
    return rgbs, depths


def _video_entries(videos_per_class: int, val_per_class: int, rgb_format: str) -> Dict[str, List[tuple]]:
    """Split -> ``(label, index, rgb relative path, depth relative dir)``; the last videos of a class are val."""
    splits = dict(train=[], val=[])
    for label, name in enumerate(MOTION_CLASSES):
        for index in range(videos_per_class):
            video = f'v_{name}_{index:03d}'
            rgb = f'videos/{name}/{video}.mp4' if rgb_format == 'mp4' else f'frames/{name}/{video}'
            split = 'val' if index >= videos_per_class - val_per_class else 'train'
            splits[split].append((label, index, rgb, f'depth/{name}/{video}'))
    return splits


def _annotation_text(entries: List[tuple]) -> str:
    return ''.join(f'{rgb} {depth} {label}\n' for label, _, rgb, depth in entries)


def _is_complete(out: Path, meta: dict, splits: Dict[str, List[tuple]], num_frames: int) -> bool:
    try:
        if json.loads((out / 'meta.json').read_text()) != meta:
            return False
        for split, entries in splits.items():
            if (out / 'annotations' / f'{split}.txt').read_text() != _annotation_text(entries):
                return False
    except (OSError, ValueError):
        return False
    for entries in splits.values():
        for _, _, rgb, depth in entries:
            if meta['rgb_format'] == 'mp4' and not (out / rgb).is_file():
                return False
            for frame in range(num_frames):
                name = frame_name(frame)
                if not (out / depth / f'{name}.png').is_file():
                    return False
                if meta['rgb_format'] == 'frames' and not (out / rgb / f'{name}.jpg').is_file():
                    return False
    return True


def write_video(out: Path, rgb_rel: str, depth_rel: str, rgb: np.ndarray, depth: np.ndarray, rgb_format: str,
                 fps: int) -> None:
    depth_dir = out / depth_rel
    depth_dir.mkdir(parents=True, exist_ok=True)
    depth_mm = depth_to_mm(depth)
    for frame, values in enumerate(depth_mm):
        if not cv2.imwrite(str(depth_dir / f'{frame_name(frame)}.png'), values, PNG_PARAMS):
            raise OSError(f'OpenCV failed to write {depth_dir / frame_name(frame)}.png')
    (depth_dir / 'depth_meta.json').write_text(json.dumps(dict(depth_scale=1000.0, source=GENERATOR)) + '\n')
    bgr = rgb[..., ::-1]
    if rgb_format == 'mp4':
        path = out / rgb_rel
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (rgb.shape[2], rgb.shape[1]))
        if not writer.isOpened():
            raise OSError(f'OpenCV cannot write mp4v video {path} (no MPEG-4 encoder in this OpenCV build?); '
                          'use rgb_format="frames"')
        for frame in bgr:
            writer.write(np.ascontiguousarray(frame))
        writer.release()
    else:
        frame_dir = out / rgb_rel
        frame_dir.mkdir(parents=True, exist_ok=True)
        for frame, values in enumerate(bgr):
            if not cv2.imwrite(str(frame_dir / f'{frame_name(frame)}.jpg'), values, JPEG_PARAMS):
                raise OSError(f'OpenCV failed to write {frame_dir / frame_name(frame)}.jpg')


def _check_decodable(path: Path, num_frames: int, height: int, width: int) -> None:
    """Decode a written video with decord, which the dataset uses; some frame sizes defeat decord 0.6."""
    try:
        import decord
    except ImportError:
        return
    try:
        reader = decord.VideoReader(str(path))
        frames = reader.get_batch([0, len(reader) - 1]).asnumpy()
        ok = len(reader) == num_frames and frames.shape[1:3] == (height, width)
    except Exception:  # decord raises DECORDError or RuntimeError
        ok = False
    if not ok:
        raise ValueError(f'decord cannot read back {path} ({num_frames} frames of {height} x {width}) '
                         f'written with OpenCV mp4v; choose another frame size (decord 0.6 fails on 48 px wide '
                         f'videos, for one) or rgb_format="frames"')


def generate_video_dataset(out_dir: Union[str, Path],
                           videos_per_class: int = 16,
                           val_per_class: int = 4,
                           num_frames: int = 32,
                           height: int = 96,
                           width: int = 128,
                           seed: int = 0,
                           rgb_format: str = 'mp4',
                           fps: int = 25,
                           force: bool = False) -> dict:
    """Write the synthetic RGB-D motion dataset (layout in the module docstring).

    Re-running with the same arguments on a finished dataset returns at once (``skipped=True``).

    Args:
        out_dir: output directory, created if missing.
        videos_per_class: videos of each of the 5 motion classes.
        val_per_class: the last videos of each class that form the val split, ``< videos_per_class``.
        num_frames: frames per video.
        height, width: frame size in pixels, even and >= 16 (MPEG-4 wants even sizes).
        seed: non-negative master seed; video ``i`` of class ``c`` depends on ``(seed, c, i)`` only.
        rgb_format: 'mp4' (MPEG-4 part 2 through OpenCV, decoded with decord) or 'frames' (JPEG folders).
        fps: frame rate written into the mp4 files.
        force: replace a different or partial dataset in ``out_dir`` (only the generator's own entries are
            removed).

    Returns:
        dict: ``out_dir``, ``skipped``, ``videos_written``, ``seconds``, ``train``/``val`` video counts.

    Raises:
        ValueError: invalid arguments (the message names the argument).
        FileExistsError: ``out_dir`` holds something else and ``force`` is False.
    """
    videos_per_class = check_int('videos_per_class', videos_per_class, 1)
    val_per_class = check_int('val_per_class', val_per_class, 0)
    if val_per_class >= videos_per_class:
        raise ValueError(f'val_per_class must be smaller than videos_per_class, got {val_per_class} >= '
                         f'{videos_per_class}')
    num_frames = check_int('num_frames', num_frames, 1)
    height, width = check_frame_size(height, width, even=True)
    seed = check_int('seed', seed, 0)
    fps = check_int('fps', fps, 1)
    if rgb_format not in ('mp4', 'frames'):
        raise ValueError(f'rgb_format must be "mp4" or "frames", got "{rgb_format}"')

    out = Path(out_dir)
    meta = dict(generator=GENERATOR, version=VERSION, seed=seed, videos_per_class=videos_per_class,
                val_per_class=val_per_class, num_frames=num_frames, height=height, width=width,
                rgb_format=rgb_format, fps=fps, classes=list(MOTION_CLASSES), depth_scale=1000.0)
    splits = _video_entries(videos_per_class, val_per_class, rgb_format)
    summary = dict(out_dir=str(out), skipped=False, videos_written=0, seconds=0.0,
                   **{split: len(entries) for split, entries in splits.items()})
    if _is_complete(out, meta, splits, num_frames):
        summary['skipped'] = True
        return summary
    prepare_output_dir(out, meta, _GENERATED, force, 'synthetic video dataset')

    start = time.perf_counter()
    written = 0
    for entries in splits.values():
        for label, index, rgb_rel, depth_rel in entries:
            params = sample_video_params(keyed_rng(seed, label, index), label, num_frames)
            rgb, depth = render_video(params, num_frames, height, width)
            write_video(out, rgb_rel, depth_rel, rgb, depth, rgb_format, fps)
            if written == 0 and rgb_format == 'mp4':
                _check_decodable(out / rgb_rel, num_frames, height, width)
            written += 1
    (out / 'annotations').mkdir(exist_ok=True)
    for split, entries in splits.items():
        (out / 'annotations' / f'{split}.txt').write_text(_annotation_text(entries))
    (out / 'annotations' / 'classes.txt').write_text(''.join(f'{name}\n' for name in MOTION_CLASSES))
    (out / 'meta.json').write_text(json.dumps(meta, indent=2) + '\n')
    summary.update(videos_written=written, seconds=time.perf_counter() - start)
    return summary
