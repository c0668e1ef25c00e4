"""RGB-D loading throughput per worker core: decode 240x320 JPEG + 16-bit PNG, crop, flip, pack.

Runs the loading pipeline of the ViT-B ScanNet config in one process with one thread (what one dataloader
worker does) over synthetic frames in the ScanNet export layout and prints samples/s. The batched
normalisation of the data preprocessor runs in the training process (on the GPU there), not in workers; its
CPU cost is timed and printed separately. Writes JSON.

    python tools/benchmark/data_pipeline.py --out work_dirs/benchmarks/data_pipeline.json
    python tools/benchmark/data_pipeline.py --video   # 16-frame clips of the ViT-B video config

``--video`` times the clip pipeline of ``configs/m33d/m33d-video_vit-base-p16_8xb24-100e_ucf101-rgbd.py``
(mp4 decoding of 16 frames at
stride 4, their 16-bit depth PNGs, random resized crop to 224, flip, pack) on synthetic 240x320 RGB-D videos,
and prints how many worker cores keep up with a given GPU step time (``--gpu-step-s``, per clip batch).
"""
import argparse
import json
import os
import tempfile
import time

import m33d_mm  # noqa: F401
import cv2
import torch

import m33d_mm.datasets  # noqa: F401
from m33d_mm.datasets import RGBDFrameDataset
from m33d_mm.synthetic.scenes import generate_dataset
from m33d_mm.models import RGBDDataPreprocessor

PIPELINE = [
    dict(type='LoadRGBDFromFile', depth_scale=1000.),
    dict(type='RGBDRandomResizedCrop', scale=(224, 224), crop_ratio_range=(0.2, 1.0)),
    dict(type='RGBDRandomFlip', prob=0.5),
    dict(type='PackRGBDInputs'),
]


VIDEO_PIPELINE = [
    dict(type='LoadRGBDVideoClip', clip_len=16, frame_interval=4, short_video='shrink'),
    dict(type='RGBDClipRandomResizedCrop', scale=(224, 224), crop_ratio_range=(0.4, 1.0)),
    dict(type='RGBDClipRandomFlip', prob=0.5),
    dict(type='PackRGBDClipInputs'),
]


def video_loader(args):
    from m33d_mm.datasets.rgbd_video import RGBDVideoDataset
    from m33d_mm.synthetic.video import generate_video_dataset
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')  # where the clip transforms are registered
    root = args.data_root
    if root is None:
        root = os.path.join(tempfile.gettempdir(), 'm33d_bench_rgbd_video_240x320')
        # the tool's own cache: a dataset of another generator version is replaced, not refused
        generate_video_dataset(root, videos_per_class=2, val_per_class=0, num_frames=64, height=240, width=320,
                               force=True)
    dataset = RGBDVideoDataset(ann_file='annotations/train.txt', data_root=root,
                               data_prefix=dict(rgb='', depth=''), pipeline=VIDEO_PIPELINE)
    dataset[0]
    start = time.perf_counter()
    for i in range(args.samples):
        dataset[i % len(dataset)]
    per_s = args.samples / (time.perf_counter() - start)
    workers = args.batch / (per_s * args.gpu_step_s)
    result = dict(samples=args.samples, clips_per_s_per_core=per_s, batch=args.batch, gpu_step_s=args.gpu_step_s,
                  workers_needed=workers, data_root=root)
    print(f'video loader (16 frames mp4 + depth PNGs 240x320 -> crop 224 + flip + pack): {per_s:.2f} clips/s '
          f'per worker core; a batch of {args.batch} clips every {args.gpu_step_s} s needs {workers:.1f} workers')
    return result


def image_loader(args):
    root = args.data_root
    if root is None:
        root = os.path.join(tempfile.gettempdir(), 'm33d_bench_rgbd_240x320')
        generate_dataset(root, num_scenes=6, frames_per_scene=40, height=240, width=320, seed=0, val_scenes=1,
                         force=True)
    dataset = RGBDFrameDataset(root, frame_skip=1, pipeline=PIPELINE)
    preprocessor = RGBDDataPreprocessor()
    for i in range(10):
        dataset[i]
    start = time.perf_counter()
    samples = [dataset[i % len(dataset)] for i in range(args.samples)]
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(0, args.samples, args.batch):
        batch = samples[i:i + args.batch]
        preprocessor(dict(inputs={k: [b['inputs'][k] for b in batch] for k in ('rgb', 'depth')}))
    norm_seconds = time.perf_counter() - start
    result = dict(samples=args.samples, loader_samples_per_s_per_core=args.samples / load_seconds,
                  normalise_samples_per_s=args.samples / norm_seconds, batch=args.batch,
                  frame_size=list(samples[0]['inputs']['rgb'].shape), data_root=root)
    print(f'image loader (JPEG + 16-bit PNG 240x320 -> crop 224 + flip + pack): '
          f'{result["loader_samples_per_s_per_core"]:.0f} samples/s per worker core')
    print(f'batched normalisation (RGB mean/std, robust depth standardisation), CPU, batch {args.batch}: '
          f'{result["normalise_samples_per_s"]:.0f} samples/s')
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', help='an RGB-D export; default: synthetic 240x320 frames in a temp dir')
    parser.add_argument('--samples', type=int, help='samples to load (default: 400 frames, or 20 clips)')
    parser.add_argument('--batch', type=int, default=32, help='batch for the (batched) normalisation step')
    parser.add_argument('--video', action='store_true', help='the video clip loader instead of the image loader')
    parser.add_argument('--gpu-step-s', type=float, default=1.0,
                        help='--video: GPU step time per batch of --batch clips to feed')
    parser.add_argument('--out', help='JSON file (default: work_dirs/benchmarks/data_pipeline[_video].json)')
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    args.samples = args.samples or (20 if args.video else 400)
    result = video_loader(args) if args.video else image_loader(args)
    out = args.out or f'work_dirs/benchmarks/data_pipeline{"_video" if args.video else ""}.json'
    os.makedirs(os.path.dirname(out) or '.', exist_ok=True)
    with open(out, 'w') as f:
        json.dump(result, f, indent=2)


if __name__ == '__main__':
    main()
