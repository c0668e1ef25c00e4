"""RGB-D loading throughput per worker core: decode 240x320 JPEG + 16-bit PNG, crop, flip, pack.

Runs the loading pipeline of the ViT-B ScanNet config in one process with one thread (what one dataloader
worker does) over synthetic frames in the ScanNet export layout and prints samples/s. The batched
normalisation of the data preprocessor runs in the training process (on the GPU there), not in workers; its
CPU cost is timed and printed separately. Writes JSON.

    python tools/benchmark/data_pipeline.py --out work_dirs/benchmarks/data_pipeline.json
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
from m33d_mm.datasets.synthetic import generate_dataset
from m33d_mm.models import RGBDDataPreprocessor

PIPELINE = [
    dict(type='LoadRGBDFromFile', depth_scale=1000.),
    dict(type='RGBDRandomResizedCrop', scale=(224, 224), crop_ratio_range=(0.2, 1.0)),
    dict(type='RGBDRandomFlip', prob=0.5),
    dict(type='PackRGBDInputs'),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', help='an RGB-D export; default: synthetic 240x320 frames in a temp dir')
    parser.add_argument('--samples', type=int, default=400)
    parser.add_argument('--batch', type=int, default=32, help='batch for the (batched) normalisation step')
    parser.add_argument('--out', default='work_dirs/benchmarks/data_pipeline.json')
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    root = args.data_root
    if root is None:
        root = os.path.join(tempfile.gettempdir(), 'm33d_bench_rgbd_240x320')
        generate_dataset(root, num_scenes=6, frames_per_scene=40, height=240, width=320, seed=0, val_scenes=1)
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
    os.makedirs(os.path.dirname(args.out) or '.', exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)


if __name__ == '__main__':
    main()
