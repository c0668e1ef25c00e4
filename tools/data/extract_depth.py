"""Estimate per-frame depth for RGB videos with a monocular depth model from a local directory.

The model is any Hugging Face ``transformers`` depth estimator whose image processor resizes without padding
(DPT / MiDaS, Depth Anything v1 and v2, relative or metric), loaded with ``local_files_only=True`` from a folder
holding ``config.json``, the weights and ``preprocessor_config.json``. Nothing is downloaded: fetch the model
on a machine with internet access first, e.g. ``huggingface-cli download <model-id> --local-dir <dir>``.

Input list: one video per line, ``<rgb> [<label>]``, where ``<rgb>`` is a video file or RGB frame folder
relative to ``--rgb-root`` (mmaction2's ``*_videos.txt`` lists, e.g. UCF-101's
``ucf101_train_split_1_videos.txt``, have this form). For each video the tool writes
``<out-root>/<rgb without video extension>/<frame:06d>.png`` (uint16, one per RGB frame) and, last, a
``depth_meta.json`` with the scale and the conversion used; a folder whose ``depth_meta.json`` exists and
whose PNG count matches it is complete and skipped on the next run (resume after an interruption by running
the same command again). ``--out-list`` writes the RGB-D annotation list ``<rgb> <depth_dir> [<label>]`` that
``RGBDVideoDataset`` reads with ``data_prefix=dict(rgb=<rgb-root>, depth=<out-root>)``.

Conversion to stored depth (``--prediction``):

* ``inverse`` (relative models: MiDaS/DPT, Depth Anything relative): the prediction is affine-invariant
  inverse depth. Per video, its 2nd and 98th percentiles over all frames map to ``1 / far`` and ``1 / near``
  (values outside are clipped), and depth = 1 / that, so every frame lies in ``[near, far]`` metres-like
  units with one scale for the whole video (no flicker between frames). This is not metric depth; the
  pre-training preprocessor standardises depth per clip anyway.
* ``metric`` (metric models): the prediction is depth in metres, stored as is; values <= 0 become 0 (missing).
* ``auto`` (default): ``metric`` if the model config says ``depth_estimation_type="metric"``, else
  ``inverse``.

PNG values are depth * ``depth_scale`` (1000, i.e. millimetres, clipped to 65535), the scale is stored in
``depth_meta.json``.

Example:
    python tools/data/extract_depth.py checkpoints/depth-anything-v2-small-hf \\
        data/ucf101/annotations/ucf101_train_split_1_videos.txt \\
        --rgb-root data/ucf101/videos --out-root data/ucf101/depth \\
        --out-list data/ucf101/annotations/ucf101_rgbd_train_split_1.txt --batch-size 16
"""
import argparse
import json
import os
import os.path as osp
import re
import sys
import time
from typing import List, Optional, Tuple

import m33d_mm  # noqa: F401  (stack fixes must precede the torchvision import inside transformers)
import cv2
import numpy as np
import torch
import torch.nn.functional as F

from m33d_mm.datasets.lists import read_list_lines
from m33d_mm.datasets.transforms.rgbd import RGBDDataError
from m33d_mm.datasets.transforms.video import DEPTH_META_FILE, VIDEO_EXTENSIONS, open_rgb_frames

DEPTH_SCALE = 1000.0
_FRAME_PNG = re.compile(r'\d{6}\.png')
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]
# Pixels subsampled when estimating a video's percentiles: enough for stable 2 % / 98 % quantiles.
_PERCENTILE_STRIDE = 4


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog='\n'.join(__doc__.splitlines()[2:]))
    parser.add_argument('model_dir', help='local folder with the transformers depth model and its image processor')
    parser.add_argument('video_list', help='list file, one "<rgb video or frame folder> [<label>]" per line')
    parser.add_argument('--rgb-root', default='', help='folder the list paths are relative to')
    parser.add_argument('--out-root', required=True, help='folder receiving one depth frame folder per video')
    parser.add_argument('--out-list', help='write the RGB-D annotation list "<rgb> <depth_dir> [<label>]" here')
    parser.add_argument('--batch-size', type=int, default=8, help='frames per forward pass')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--prediction', choices=['auto', 'inverse', 'metric'], default='auto',
                        help='what the model predicts (see the conversion notes above)')
    parser.add_argument('--near', type=float, default=0.5, help='metres-like depth of the 98th inverse-depth '
                        'percentile (inverse models)')
    parser.add_argument('--far', type=float, default=10.0, help='metres-like depth of the 2nd inverse-depth '
                        'percentile (inverse models)')
    parser.add_argument('--num-threads', type=int, default=2, help='decord decoding threads')
    parser.add_argument('--overwrite', action='store_true', help='redo videos whose output is complete')
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if not 0 < args.near < args.far <= 65.535:
        parser.error(f'need 0 < --near < --far <= 65.535 (uint16 millimetres), got {args.near}, {args.far}')
    return args


def read_input_list(path: str) -> List[Tuple[str, Optional[str]]]:
    """``(rgb, label or None)`` per line, duplicates removed in order; errors name the file and line."""
    entries, seen = [], set()
    for entry in read_list_lines(path, 'video list'):
        fields = entry.fields
        if len(fields) > 2:
            raise ValueError(f'{entry.where}: expected "<rgb video or frame folder> [<label>]", got '
                             f'{len(fields)} fields: "{entry.text}"')
        if fields[0] not in seen:
            seen.add(fields[0])
            entries.append((fields[0], fields[1] if len(fields) == 2 else None))
    if not entries:
        raise ValueError(f'video list {path} is empty')
    return entries


def depth_dir_for(rgb: str) -> str:
    """Output folder of a video, relative to the output root: its path without a video extension."""
    rgb = rgb.rstrip('/')
    stem, ext = osp.splitext(rgb)
    return stem if ext.lower() in VIDEO_EXTENSIONS else rgb


def is_complete(depth_dir: str) -> bool:
    """A finished output folder: ``depth_meta.json`` present and as many frame PNGs as it records."""
    try:
        with open(osp.join(depth_dir, DEPTH_META_FILE)) as f:
            expected = int(json.load(f)['num_frames'])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return sum(1 for n in os.listdir(depth_dir) if _FRAME_PNG.fullmatch(n)) == expected


def load_model(model_dir: str, device: str):
    """Model and image processor from a local folder; never touches the network."""
    if not osp.isfile(osp.join(model_dir, 'config.json')):
        raise FileNotFoundError(
            f'{model_dir} is not a local model folder (no config.json). This tool never downloads: fetch the '
            'model elsewhere (huggingface-cli download <model-id> --local-dir <dir>) and pass that folder.')
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation
    model = AutoModelForDepthEstimation.from_pretrained(model_dir, local_files_only=True).to(device).eval()
    processor = AutoImageProcessor.from_pretrained(model_dir, local_files_only=True)
    if getattr(processor, 'do_pad', False):
        raise ValueError(f'{model_dir}: its image processor pads the input ({type(processor).__name__}); only '
                         'processors that resize without padding (DPT, Depth Anything) are supported')
    return model, processor


def resolve_prediction(model, requested: str) -> str:
    if requested != 'auto':
        return requested
    return 'metric' if getattr(model.config, 'depth_estimation_type', None) == 'metric' else 'inverse'


@torch.no_grad()
def predict_video(model, processor, frames, batch_size: int, device: str) -> np.ndarray:
    """Raw model output for every frame, resized (bilinear) to the frame size: ``(T, H, W)`` float32."""
    outputs = []
    for begin in range(0, len(frames), batch_size):
        images = frames.read(range(begin, min(begin + batch_size, len(frames))))
        pixel_values = processor(images=list(images), return_tensors='pt')['pixel_values'].to(device)
        pred = model(pixel_values=pixel_values).predicted_depth
        pred = F.interpolate(pred[:, None].float(), size=images.shape[1:3], mode='bilinear', align_corners=False)
        outputs.append(pred[:, 0].cpu().numpy())
    return np.concatenate(outputs)


def to_stored_depth(pred: np.ndarray, prediction: str, near: float, far: float) -> Tuple[np.ndarray, dict]:
    """Convert a video's predictions ``(T, H, W)`` to uint16 depth and the record of how.

    Returns:
        tuple: uint16 ``(T, H, W)`` depth in ``1 / DEPTH_SCALE`` metres(-like) and a dict for the meta file.
    """
    if prediction == 'metric':
        depth = np.where(pred > 0, pred, 0)
        info = dict(conversion='metric prediction in metres, stored as is; <= 0 -> 0 (missing)')
    else:
        lo, hi = np.percentile(pred[:, ::_PERCENTILE_STRIDE, ::_PERCENTILE_STRIDE], [2, 98])
        # A constant prediction (blank video) has no scale: everything lands at `far`.
        unit = np.clip((pred - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(pred)
        depth = 1.0 / (1.0 / far + unit * (1.0 / near - 1.0 / far))
        info = dict(conversion='relative inverse depth; per-video 2nd/98th percentiles -> 1/far, 1/near, '
                    'clipped, depth = 1 / value (metres-like, not metric)',
                    inverse_percentiles=[float(lo), float(hi)], near=near, far=far)
    stored = np.clip(np.rint(depth * DEPTH_SCALE), 0, 65535).astype(np.uint16)
    return stored, info


def write_depth_folder(out_dir: str, depth: np.ndarray, meta: dict) -> None:
    """Frame PNGs, then ``depth_meta.json`` (atomically, last: it marks the folder complete)."""
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(out_dir):
        if _FRAME_PNG.fullmatch(name) or name == DEPTH_META_FILE:
            os.remove(osp.join(out_dir, name))
    for index, frame in enumerate(depth):
        path = osp.join(out_dir, f'{index:06d}.png')
        if not cv2.imwrite(path, frame, _PNG_PARAMS):
            raise OSError(f'OpenCV failed to write {path}')
    tmp = osp.join(out_dir, DEPTH_META_FILE + '.tmp')
    with open(tmp, 'w') as f:
        json.dump(meta, f, indent=2)
    os.replace(tmp, osp.join(out_dir, DEPTH_META_FILE))


def write_list(path: str, rows: List[str]) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.writelines(f'{row}\n' for row in rows)
    os.replace(tmp, path)


def main(argv=None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm
    try:
        entries = read_input_list(args.video_list)
        model, processor = load_model(args.model_dir, args.device)
    except (FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    prediction = resolve_prediction(model, args.prediction)
    rows, failed, done, skipped, frames_done = [], [], 0, 0, 0
    start = time.perf_counter()
    bar = tqdm(entries, unit='video', desc='depth', file=sys.stderr)
    for rgb, label in bar:
        rel_dir = depth_dir_for(rgb)
        out_dir = osp.join(args.out_root, rel_dir)
        row = f'{rgb} {rel_dir}' + (f' {label}' if label is not None else '')
        if not args.overwrite and is_complete(out_dir):
            skipped += 1
            rows.append(row)
            continue
        try:
            frames = open_rgb_frames(osp.join(args.rgb_root, rgb), num_threads=args.num_threads)
            pred = predict_video(model, processor, frames, args.batch_size, args.device)
        except RGBDDataError as err:
            failed.append(f'{rgb}: {err}')
            tqdm.write(f'skipping {rgb}: {err}', file=sys.stderr)
            continue
        depth, info = to_stored_depth(pred, prediction, args.near, args.far)
        meta = dict(depth_scale=DEPTH_SCALE, num_frames=len(depth), height=depth.shape[1], width=depth.shape[2],
                    model=osp.basename(osp.normpath(args.model_dir)), model_type=model.config.model_type,
                    prediction=prediction, source=osp.join(args.rgb_root, rgb), **info)
        write_depth_folder(out_dir, depth, meta)
        rows.append(row)
        done += 1
        frames_done += len(depth)
        bar.set_postfix(frames_per_s=f'{frames_done / max(time.perf_counter() - start, 1e-9):.1f}')
    bar.close()
    if args.out_list:
        write_list(args.out_list, rows)
    print(f'{done} videos written ({frames_done} frames), {skipped} already complete, {len(failed)} failed; '
          f'prediction={prediction}' + (f', list: {args.out_list}' if args.out_list else ''))
    for line in failed:
        print(f'failed: {line}', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
