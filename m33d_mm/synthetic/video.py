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

Only numpy and OpenCV are used. Streams, file names and image encodings are those of the other generators
(:mod:`m33d_mm.synthetic.renderer`, :mod:`m33d_mm.synthetic.writers`). The caster itself, float64 in camera
coordinates for one sphere in front of fixed planes, stays apart from the renderer's ``render_frame``: its exact
arithmetic defines the bytes of the video datasets written so far.
"""
import json
import time
from pathlib import Path
from typing import Dict, List, Tuple, Union

import cv2
import numpy as np

from .cli import check_frame_size, check_int, prepare_output_dir
from .renderer import keyed_rng
from .writers import JPEG_PARAMS, PNG_PARAMS, depth_to_mm, frame_name

__all__ = ['MOTION_CLASSES', 'GENERATOR', 'VERSION', 'sample_video_params', 'render_video', 'generate_video_dataset']

GENERATOR = 'm33d_mm.synthetic_video'
VERSION = 1
MOTION_CLASSES = ('left_right', 'toward_away', 'orbit', 'bounce', 'static')

_GENERATED = ('videos', 'frames', 'depth', 'annotations', 'meta.json')
# Fraction of depth readings dropped at random, as ToF / structured-light sensors do.
_DROPOUT = 0.01
_LIGHT = np.array([0.4, -0.8, -0.45]) / np.linalg.norm([0.4, -0.8, -0.45])


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(60, 230), rng.integers(90, 250)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def _texture(rng: np.random.Generator) -> dict:
    return dict(a=_random_colour(rng), b=_random_colour(rng), wave=rng.uniform(-1, 1, 3) * rng.uniform(4, 14),
                phase=rng.uniform(0, 2 * np.pi), checker=bool(rng.random() < 0.5), cell=rng.uniform(0.25, 0.6))


def _albedo(tex: dict, points: np.ndarray) -> np.ndarray:
    """``(M, 3)`` albedo at ``(M, 3)`` points: a checker board or steepened stripes between two colours."""
    if tex['checker']:
        cells = np.floor(points / tex['cell']).astype(np.int64).sum(axis=1)
        blend = (cells & 1).astype(np.float32)
    else:
        blend = np.clip(np.sin(points @ tex['wave'] + tex['phase']) * 3.0, -1, 1) * 0.5 + 0.5
    return tex['a'] + (tex['b'] - tex['a']) * blend[:, None]


def sample_video_params(rng: np.random.Generator, label: int, num_frames: int) -> dict:
    """Scene and trajectory of one video of class ``label`` (camera frame: x right, y down, z forward)."""
    if not 0 <= label < len(MOTION_CLASSES):
        raise ValueError(f'label must be in [0, {len(MOTION_CLASSES)}), got {label}')
    radius = rng.uniform(0.3, 0.5)
    camera_height = rng.uniform(0.9, 1.3)
    lift = rng.uniform(0.1, 0.5)
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
        textures=dict(wall=_texture(rng), floor=_texture(rng), side=_texture(rng), object=_texture(rng)),
        spin_axis=rng.normal(size=3),
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


def _rotate(points: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    k = axis
    return (points * np.cos(angle) + np.cross(k, points) * np.sin(angle) + np.outer(points @ k, k) *
            (1 - np.cos(angle)))


def render_video(params: dict, num_frames: int, height: int, width: int) -> Tuple[np.ndarray, np.ndarray]:
    """Render one video.

    Returns:
        tuple: RGB ``(T, H, W, 3)`` uint8 and depth ``(T, H, W)`` float32 metres (0 = missing).
    """
    focal = 0.8 * width
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    dirs = np.stack([(u - (width - 1) / 2) / focal, (v - (height - 1) / 2) / focal, np.ones_like(u)], -1)
    dirs = dirs.reshape(-1, 3)
    # Static background: ray parameter t equals z-depth because every ray has d_z = 1.
    t_wall = np.full(len(dirs), params['wall_z'])
    with np.errstate(divide='ignore'):
        t_floor = np.where(dirs[:, 1] > 1e-9, params['camera_height'] / dirs[:, 1], np.inf)
        t_side = (np.where(dirs[:, 0] * params['side_wall'] > 1e-9, params['side_wall'] / dirs[:, 0], np.inf)
                  if params['side_wall'] is not None else np.full(len(dirs), np.inf))
    t_background = np.stack([t_wall, t_floor, t_side])
    which = t_background.argmin(axis=0)
    t_bg = t_background.min(axis=0)
    normals_bg = np.array([[0, 0, -1], [0, -1, 0], [-np.sign(params['side_wall'] or 1.0), 0, 0]])[which]
    points_bg = dirs * t_bg[:, None]
    albedo_bg = np.empty_like(points_bg)
    for index, name in enumerate(('wall', 'floor', 'side')):
        hit = which == index
        if hit.any():
            albedo_bg[hit] = _albedo(params['textures'][name], points_bg[hit])
    shade_bg = 0.35 + 0.65 * np.clip(normals_bg @ _LIGHT, 0, None)
    rgb_bg = albedo_bg * shade_bg[:, None]

    noise_rng = np.random.default_rng(params['noise_seed'])
    radius = params['radius']
    rgbs = np.empty((num_frames, height, width, 3), np.uint8)
    depths = np.empty((num_frames, height, width), np.float32)
    a = (dirs * dirs).sum(axis=1)
    for frame in range(num_frames):
        centre = _object_centre(params, frame)
        b = dirs @ centre
        disc = b * b - a * (centre @ centre - radius * radius)
        t_obj = np.where(disc >= 0, (b - np.sqrt(np.maximum(disc, 0))) / a, np.inf)
        on_obj = t_obj < t_bg
        depth = np.where(on_obj, t_obj, t_bg)
        rgb = rgb_bg.copy()
        if on_obj.any():
            points = dirs[on_obj] * t_obj[on_obj, None]
            normals = (points - centre) / radius
            # texture fixed to the sphere, which spins slowly so that it looks alive in every class
            local = _rotate(points - centre, params['spin_axis'], 0.05 * frame)
            shade = 0.35 + 0.65 * np.clip(normals @ _LIGHT, 0, None)
            rgb[on_obj] = _albedo(params['textures']['object'], local) * shade[:, None]
        rgb = rgb + noise_rng.normal(0, 0.01, rgb.shape)
        depth = depth + noise_rng.normal(0, 1, depth.shape) * 0.001 * depth * depth
        depth[noise_rng.random(depth.shape) < _DROPOUT] = 0
        rgbs[frame] = np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8).reshape(height, width, 3)
        depths[frame] = depth.reshape(height, width)
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
