"""Synthetic long RGB-D videos with phase segments, in the OR-AR layout of ``docs/video.md``.

Each video is one scene of :mod:`m33d_mm.synthetic.video` (walls, floor, textured sphere) whose
sphere changes its motion a few times: every stretch of one motion is a phase, and the phases are the motion
classes (``left_right``, ``toward_away``, ``orbit``, ``bounce``, ``static``). Phases of a video are distinct
and in random order. Annotated segments extend ``overlap`` frames beyond each change of motion on both sides,
so transitions carry two phases, as overlapping workflow phases do in OR recordings. Layout::

    videos/<video_id>/rgb/000000.jpg ...          RGB frames
    videos/<video_id>/depth/000000.png ...        uint16 mm, 0 = missing, plus depth_meta.json
    annotations/phases.txt                        phase names, line i = phase i
    annotations/phase_segments.txt                "<video_id> <start_frame> <end_frame> <phase>", end exclusive
    annotations/phase_{train,val}.txt             the split: one video id per line
    annotations/pretrain_{train,val}.txt          "<video_id>/rgb <video_id>/depth" (RGBDVideoDataset lists)
    meta.json                                     generation settings, written last (marks a finished dataset)
"""
import json
import time
from pathlib import Path
from typing import Tuple, Union

import numpy as np

from .cli import check_frame_size, check_int, prepare_output_dir
from .renderer import keyed_rng
from .video import MOTION_CLASSES, render_video, sample_video_params, write_video

__all__ = ['PHASES', 'generate_phase_dataset']

PHASES = MOTION_CLASSES
GENERATOR = 'm33d_mm.synthetic_phase'
# 2: frames from the shared renderer, as the motion videos' version 2
VERSION = 2
# What stays the same when the motion changes: the room, the camera and the sphere's look and start position.
_SCENE_KEYS = ('radius', 'camera_height', 'wall_z', 'side_wall', 'centre', 'materials', 'lighting', 'spin_axis',
               'pitch')
_GENERATED = ('videos', 'annotations', 'meta.json')
# Keyed streams of this generator, apart from those of the motion videos.
_STREAM = 7


def render_phase_video(rng: np.random.Generator, phases, lengths, height: int, width: int):
    """Render one video whose segment ``k`` shows motion ``phases[k]`` for ``lengths[k]`` frames.

    Returns:
        tuple: RGB ``(T, H, W, 3)`` uint8 and depth ``(T, H, W)`` float32 metres, ``T = sum(lengths)``.
    """
    scene = sample_video_params(rng, int(phases[0]), int(sum(lengths)))
    rgbs, depths = [], []
    for phase, length in zip(phases, lengths):
        params = sample_video_params(rng, int(phase), int(length))
        params.update({key: scene[key] for key in _SCENE_KEYS})
        rgb, depth = render_video(params, int(length), height, width)
        rgbs.append(rgb)
        depths.append(depth)
    return np.concatenate(rgbs), np.concatenate(depths)


def generate_phase_dataset(out_dir: Union[str, Path],
                           num_videos: int = 16,
                           val_videos: int = 4,
                           phases_per_video: int = 4,
                           segment_frames: Tuple[int, int] = (16, 24),
                           overlap: int = 2,
                           height: int = 96,
                           width: int = 128,
                           seed: int = 0,
                           force: bool = False) -> dict:
    """Write the synthetic phase dataset (layout in the module docstring).

    Re-running with the same arguments on a finished dataset returns at once (``skipped=True``).

    Args:
        out_dir: output directory, created if missing.
        num_videos: videos in all; the last ``val_videos`` form the val split.
        val_videos: videos of the val split, ``< num_videos``.
        phases_per_video: distinct phases per video, at most ``len(PHASES)``.
        segment_frames: ``(min, max)`` frames of one motion stretch, inclusive.
        overlap: frames each annotated segment extends beyond a change of motion, on each side.
        height, width: frame size, even and >= 16.
        seed: master seed; video ``i`` depends on ``(seed, i)`` only.
        force: replace a different or partial dataset in ``out_dir`` (only the generator's entries are removed).

    Returns:
        dict: ``out_dir``, ``skipped``, ``videos_written``, ``frames``, ``seconds``, ``train``/``val`` counts.

    Raises:
        ValueError: invalid arguments (named).
        FileExistsError: ``out_dir`` holds something else and ``force`` is False.
    """
    num_videos = check_int('num_videos', num_videos, 2)
    val_videos = check_int('val_videos', val_videos, 1)
    if val_videos >= num_videos:
        raise ValueError(f'val_videos must be smaller than num_videos, got {val_videos} >= {num_videos}')
    phases_per_video = check_int('phases_per_video', phases_per_video, 1)
    if phases_per_video > len(PHASES):
        raise ValueError(f'phases_per_video must be at most {len(PHASES)}, got {phases_per_video}')
    low, high = (check_int('segment_frames', v, 1) for v in segment_frames)
    if low > high:
        raise ValueError(f'segment_frames must be (min, max) with min <= max, got {tuple(segment_frames)}')
    overlap = check_int('overlap', overlap, 0)
    height, width = check_frame_size(height, width, even=True)
    seed = check_int('seed', seed, 0)

    out = Path(out_dir)
    meta = dict(generator=GENERATOR, version=VERSION, seed=seed, num_videos=num_videos, val_videos=val_videos,
                phases_per_video=phases_per_video, segment_frames=[low, high], overlap=overlap, height=height,
                width=width, phases=list(PHASES), depth_scale=1000.0)
    ids = [f'case_{i:03d}' for i in range(num_videos)]
    splits = dict(train=ids[:num_videos - val_videos], val=ids[num_videos - val_videos:])
    summary = dict(out_dir=str(out), skipped=False, videos_written=0, frames=0, seconds=0.0,
                   **{split: len(v) for split, v in splits.items()})
    try:
        finished = json.loads((out / 'meta.json').read_text()) == meta and (
            out / 'annotations' / 'phase_segments.txt').is_file()
    except (OSError, ValueError):
        finished = False
    if finished:
        summary['skipped'] = True
        return summary
    prepare_output_dir(out, meta, _GENERATED, force, 'synthetic phase dataset')

    start_time = time.perf_counter()
    segment_lines = []
    for index, video_id in enumerate(ids):
        rng = keyed_rng(seed, _STREAM, index)
        phases = rng.permutation(len(PHASES))[:phases_per_video]
        lengths = rng.integers(low, high + 1, size=phases_per_video)
        rgb, depth = render_phase_video(rng, phases, lengths, height, width)
        write_video(out, f'videos/{video_id}/rgb', f'videos/{video_id}/depth', rgb, depth, 'frames', fps=25)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        total = int(bounds[-1])
        for phase, begin, end in zip(phases, bounds[:-1], bounds[1:]):
            segment_lines.append(f'{video_id} {max(0, begin - overlap)} {min(total, end + overlap)} {phase}\n')
        summary['frames'] += total
    annotations = out / 'annotations'
    annotations.mkdir(exist_ok=True)
    (annotations / 'phases.txt').write_text(''.join(f'{name}\n' for name in PHASES))
    (annotations / 'phase_segments.txt').write_text(''.join(segment_lines))
    for split, split_ids in splits.items():
        (annotations / f'phase_{split}.txt').write_text(''.join(f'{v}\n' for v in split_ids))
        (annotations / f'pretrain_{split}.txt').write_text(''.join(f'{v}/rgb {v}/depth\n' for v in split_ids))
    (out / 'meta.json').write_text(json.dumps(meta, indent=2) + '\n')
    summary.update(videos_written=num_videos, seconds=time.perf_counter() - start_time)
    return summary
