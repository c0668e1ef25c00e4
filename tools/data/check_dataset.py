"""Check an RGB-D dataset on disk and report every problem before training meets the first one.

Examples:
    python tools/data/check_dataset.py data/scannet_frames --split-file splits/scannetv2_train.txt --workers 8
    python tools/data/check_dataset.py configs/m33d/m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd.py --workers 8
    python tools/data/check_dataset.py configs/quickstart/m33d-video_vit-micro-p8_1xb8-10e_synthetic-rgbd-video.py

Given a data root, the root is read as a ScanNet export (``<scene>/color/*.jpg``, ``<scene>/depth/*.png``,
optional ``<scene>/label/*.png``). Given a config (``.py``), the datasets of ``train_dataloader`` and
``val_dataloader`` are checked with the settings the config gives them (root, split, frame_skip, folders;
RGB-D video datasets too); ``--split-file``/``--frame-skip``/``--label-dir`` override them for frame datasets.
Every file is decoded with the loaders training uses. The exit status is 1 when anything is wrong, 0 otherwise
(2 for unusable arguments).
"""
import argparse
import dataclasses
import json
import os.path as osp
import sys
import time
from collections import Counter

import m33d_mm  # noqa: F401  (stack fixes must precede torchvision/mmseg/mmaction imports)
from m33d_mm.tools.dataset_checker import (DATASET_LISTERS, PROBLEM_KINDS, list_dataset, run_checks,
                                           unwrap_dataset_cfg)

FRAME_OVERRIDES = ('split_file', 'frame_skip', 'label_dir')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('source', metavar='CONFIG_OR_ROOT', help='a config file (.py) or a ScanNet-layout data root')
    parser.add_argument('--split-file', help='scene list (relative to the root unless absolute); default: every '
                        'scene folder (root) or the config\'s split')
    parser.add_argument('--frame-skip', type=int, help='check every K-th frame of each scene (default: 1 for a root, '
                        'the config\'s frame_skip for a config)')
    parser.add_argument('--label-dir', help='scene sub-folder of NYU40 label images (default: label)')
    parser.add_argument('--workers', type=int, default=1, help='processes decoding files in parallel')
    parser.add_argument('--json', metavar='FILE', help='also write the problems to FILE as JSON')
    return parser.parse_args(argv)


def datasets_to_check(args):
    """``[(name, dataset config)]`` for a config file or a data root."""
    if not args.source.endswith('.py'):
        if not osp.isdir(args.source):
            raise FileNotFoundError(f'{args.source} is neither a config (.py) nor a data root folder')
        return [(args.source, dict(type='RGBDFrameDataset', data_root=args.source, frame_skip=1, require_depth=False))]
    from mmengine.config import Config
    cfg = Config.fromfile(args.source)
    datasets = []
    for split in ('train', 'val'):
        loader = cfg.get(f'{split}_dataloader')
        if loader and loader.get('dataset'):
            datasets.append((split, loader['dataset'].to_dict()))
    if not datasets:
        raise KeyError(f'{args.source} has no train_dataloader.dataset or val_dataloader.dataset')
    return datasets


def summary_table(problems) -> str:
    counts = Counter(p.kind for p in problems)
    examples = {}
    for problem in problems:
        examples.setdefault(problem.kind, problem.path)
    width = max(len(k) for k in PROBLEM_KINDS)
    lines = [f'{"problem":<{width}}  {"count":>7}  first file', f'{"-" * width}  {"-" * 7}  {"-" * 10}']
    lines += [f'{kind:<{width}}  {counts[kind]:>7}  {examples[kind]}' for kind in PROBLEM_KINDS if counts[kind]]
    lines.append(f'{"total":<{width}}  {len(problems):>7}')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.workers < 1 or (args.frame_skip is not None and args.frame_skip < 1):
        print('error: --workers and --frame-skip must be >= 1', file=sys.stderr)
        return 2
    try:
        datasets = datasets_to_check(args)
    except (FileNotFoundError, KeyError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    overrides = {k: getattr(args, k) for k in FRAME_OVERRIDES}
    problems, checked, files, seconds = [], 0, 0, 0.0
    for name, dataset_cfg in datasets:
        kind = unwrap_dataset_cfg(dataset_cfg).get('type')
        if kind not in DATASET_LISTERS:
            print(f'{name}: skipped, no checker for dataset type "{kind}" (have {", ".join(sorted(DATASET_LISTERS))})')
            continue
        try:
            samples, listing = list_dataset(dataset_cfg, **(overrides if kind == 'RGBDFrameDataset' else {}))
        except (KeyError, TypeError, ValueError, AttributeError) as err:  # the dataset config itself is unusable
            print(f'error: {name}: {err}', file=sys.stderr)
            return 2
        print(f'{name}: {kind}, {len(samples)} samples')
        start = time.perf_counter()
        found, decoded = run_checks(samples, workers=args.workers, desc=name)
        seconds += time.perf_counter() - start
        problems += listing + found
        checked += len(samples)
        files += decoded
    if not checked and not problems:
        print('error: no dataset could be checked', file=sys.stderr)
        return 2
    print(f'checked {checked} samples, {files} files in {seconds:.1f} s ({files / max(seconds, 1e-9):.0f} files/s, '
          f'{args.workers} worker{"s" if args.workers > 1 else ""})')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump([dataclasses.asdict(p) for p in problems], f, indent=1)
    if not problems:
        print('no problems found')
        return 0
    print('\n' + summary_table(problems) + '\n')
    for problem in problems:
        print(f'[{problem.kind}] {problem.message}')
    return 1


if __name__ == '__main__':
    sys.exit(main())
