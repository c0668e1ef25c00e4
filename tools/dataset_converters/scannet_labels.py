"""Export ScanNet 2D label images (raw ScanNet label ids) as NYU40-id PNGs.

ScanNet ships per-frame label images (``<scene>_2d-label-filt.zip`` -> ``label-filt/<frame>.png``, uint16 raw
ScanNet label ids, 0 = unannotated) and ``scannetv2-labels.combined.tsv``, whose ``id`` column is the raw label id
and ``nyu40id`` column its NYU40 class. Output PNGs are uint8 NYU40 ids (0 = unlabelled), named
``<frame:06d>.png`` like the ``.sens`` export so labels line up with ``color/`` and ``depth/``. Mapping to the
ScanNet20 benchmark ids happens at load time with :func:`m33d_mm.datasets.label_maps.nyu40_to_scannet20`.

Usage::

    # one scene
    python tools/dataset_converters/scannet_labels.py scans/scene0000_00/label-filt out/scene0000_00/label \\
        --tsv scannetv2-labels.combined.tsv --frame-skip 25 --resize 240 320
    # every scans/<scene>/label-filt -> OUT_ROOT/<scene>/label
    python tools/dataset_converters/scannet_labels.py scans OUT_ROOT --tsv scannetv2-labels.combined.tsv
"""
import argparse
import csv
import importlib.util
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import cv2
import numpy as np
from tqdm import tqdm

PathLike = Union[str, os.PathLike]


def _load_label_maps():
    # Loaded by file path: importing the ``m33d_mm`` package pulls in torch and the OpenMMLab registries, which
    # this numpy-only converter does not need (and worker processes would each pay for).
    if 'm33d_mm.datasets.label_maps' in sys.modules:
        return sys.modules['m33d_mm.datasets.label_maps']
    path = Path(__file__).resolve().parents[2] / 'm33d_mm' / 'datasets' / 'label_maps.py'
    spec = importlib.util.spec_from_file_location('_m33d_mm_label_maps', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_label_maps = _load_label_maps()
# Re-exported so that scripts working on ScanNet labels need only this module.
NYU40_CLASSES = _label_maps.NYU40_CLASSES
NYU40_TO_SCANNET20 = _label_maps.NYU40_TO_SCANNET20
SCANNET20_CLASSES = _label_maps.SCANNET20_CLASSES
nyu40_to_scannet20 = _label_maps.nyu40_to_scannet20


class LabelMapError(ValueError):
    """The label TSV is malformed or a label image holds ids the mapping cannot handle."""


def load_label_map(tsv_path: PathLike) -> Dict[int, int]:
    """Reads the raw-ScanNet-id -> NYU40-id mapping from ``scannetv2-labels.combined.tsv``.

    Args:
        tsv_path: Tab-separated file with a header row containing at least ``id`` and ``nyu40id``.

    Returns:
        Dict mapping raw label id to NYU40 id (0..40).

    Raises:
        LabelMapError: Missing columns, non-integer or out-of-range values, or one raw id mapped to two classes.
            The message names the file and line.
    """
    mapping: Dict[int, int] = {}
    with open(tsv_path, newline='', encoding='utf-8') as f:
        reader = csv.DictReader(f, delimiter='\t')
        missing = {'id', 'nyu40id'} - set(reader.fieldnames or ())
        if missing:
            raise LabelMapError(f'{tsv_path}: missing column(s) {sorted(missing)} in header {reader.fieldnames}')
        for row in reader:
            line = reader.line_num
            try:
                raw_id, nyu40 = int(row['id']), int(row['nyu40id'])
            except (TypeError, ValueError) as e:
                raise LabelMapError(f'{tsv_path}: line {line}: id={row["id"]!r}, nyu40id={row["nyu40id"]!r} '
                                    'are not integers') from e
            if raw_id < 0 or not 0 <= nyu40 <= len(NYU40_CLASSES):
                raise LabelMapError(f'{tsv_path}: line {line}: id {raw_id} -> nyu40id {nyu40} out of range')
            if mapping.get(raw_id, nyu40) != nyu40:
                raise LabelMapError(f'{tsv_path}: line {line}: raw id {raw_id} mapped to both '
                                    f'{mapping[raw_id]} and {nyu40}')
            mapping[raw_id] = nyu40
    if not mapping:
        raise LabelMapError(f'{tsv_path}: no label rows')
    return mapping


def convert_label_image(raw: np.ndarray, mapping: Dict[int, int], strict: bool = False) -> np.ndarray:
    """Maps a raw ScanNet label image to NYU40 ids.

    Args:
        raw: (H, W) non-negative integer array (uint16 in ScanNet) of raw label ids; 0 = unannotated.
        mapping: Raw id -> NYU40 id, as returned by :func:`load_label_map`.
        strict: Raise on raw ids missing from ``mapping`` instead of mapping them to 0.

    Returns:
        (H, W) uint8 NYU40 ids, 0 = unlabelled.

    Raises:
        LabelMapError: Non-integer or negative input, or (with ``strict``) unknown ids, which are listed so the
            caller can add the file name.
    """
    raw = np.asarray(raw)
    if not np.issubdtype(raw.dtype, np.integer):
        raise LabelMapError(f'label image must be integer, got dtype {raw.dtype}')
    if raw.size == 0:
        return np.zeros(raw.shape, dtype=np.uint8)
    if raw.min() < 0:
        raise LabelMapError(f'label image has negative ids: {np.unique(raw[raw < 0])[:20].tolist()}')
    lut_size = max(int(raw.max()), max(mapping, default=0)) + 1
    lut = np.zeros(lut_size, dtype=np.uint8)
    known = np.zeros(lut_size, dtype=bool)
    keys = np.fromiter(mapping.keys(), dtype=np.int64, count=len(mapping))
    lut[keys] = np.fromiter(mapping.values(), dtype=np.int64, count=len(mapping))
    known[keys] = True
    # 0 is ScanNet's "unannotated", never an unknown class.
    known[0] = True
    if strict:
        present = np.unique(raw)
        unknown = present[~known[present]]
        if unknown.size:
            shown = ', '.join(str(int(v)) for v in unknown[:20]) + (', ...' if unknown.size > 20 else '')
            raise LabelMapError(f'raw label ids not in the label map: {shown}')
    return lut[raw]


def _frame_index(path: Path) -> Optional[int]:
    try:
        return int(path.stem)
    except ValueError:
        return None


def export_labels(label_dir: PathLike, out_dir: PathLike, tsv: Union[PathLike, Dict[int, int]],
                  frame_skip: int = 25, resize: Optional[Tuple[int, int]] = None, strict: bool = False,
                  progress: bool = True) -> int:
    """Converts every ``frame_skip``-th ScanNet label image of one scene to a NYU40-id PNG.

    Args:
        label_dir: Directory of ``<frame>.png`` raw-id label images (ScanNet ``label-filt``).
        out_dir: Output directory for ``<frame:06d>.png`` uint8 NYU40-id images.
        tsv: ``scannetv2-labels.combined.tsv`` path, or a mapping already loaded with :func:`load_label_map`.
        frame_skip: Keep frames whose index is a multiple of this; use the ``.sens`` export's value.
        resize: Optional (height, width); nearest-neighbour so no ids are blended into non-existent classes.
        strict: Raise on raw ids missing from the mapping instead of writing 0.
        progress: Show a tqdm bar.

    Returns:
        Number of label images written.

    Raises:
        FileNotFoundError: ``label_dir`` missing or holding no ``<int>.png`` files.
        LabelMapError: Unreadable image or (with ``strict``) unknown ids; the message names the file.
    """
    if frame_skip < 1:
        raise ValueError(f'frame_skip must be >= 1, got {frame_skip}')
    label_dir, out_dir = Path(label_dir), Path(out_dir)
    mapping = tsv if isinstance(tsv, dict) else load_label_map(tsv)
    if not label_dir.is_dir():
        raise FileNotFoundError(f'{label_dir}: not a directory')
    frames = sorted((idx, p) for p in label_dir.glob('*.png') if (idx := _frame_index(p)) is not None)
    if not frames:
        raise FileNotFoundError(f'{label_dir}: no <frame>.png label images')
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for idx, path in tqdm([f for f in frames if f[0] % frame_skip == 0], desc=label_dir.parent.name or 'labels',
                          unit='img', disable=not progress):
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None or raw.ndim != 2:
            raise LabelMapError(f'{path}: not a single-channel label image')
        try:
            label = convert_label_image(raw, mapping, strict=strict)
        except LabelMapError as e:
            raise LabelMapError(f'{path}: {e}') from e
        if resize is not None:
            label = cv2.resize(label, (int(resize[1]), int(resize[0])), interpolation=cv2.INTER_NEAREST)
        out = out_dir / f'{idx:06d}.png'
        if not cv2.imwrite(str(out), label):
            raise OSError(f'failed to write {out}')
        written += 1
    return written


def find_label_dirs(source: Path, out_root: Path) -> List[Tuple[Path, Path]]:
    """Pairs input label directories with output directories.

    Args:
        source: A ``label-filt`` directory of PNGs, or a ``scans`` root holding ``<scene>/label-filt``.
        out_root: Output directory for a single ``label-filt``, or the root receiving ``<scene>/label``.

    Returns:
        (label_dir, out_dir) pairs, sorted by scene.
    """
    if any(source.glob('*.png')):
        return [(source, out_root)]
    return sorted((d / 'label-filt', out_root / d.name / 'label')
                  for d in source.iterdir() if (d / 'label-filt').is_dir())


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert ScanNet raw-id label images to uint8 NYU40-id PNGs.')
    parser.add_argument('source', help='a label-filt directory, or a scans root with <scene>/label-filt')
    parser.add_argument('out', help='output directory (single label-filt) or root receiving <scene>/label')
    parser.add_argument('--tsv', required=True, help='path to scannetv2-labels.combined.tsv')
    parser.add_argument('--frame-skip', type=int, default=25,
                        help='keep every N-th frame; match the .sens export (default: 25)')
    parser.add_argument('--resize', type=int, nargs=2, metavar=('H', 'W'),
                        help='nearest-neighbour resize to H x W (default: keep native size)')
    parser.add_argument('--strict', action='store_true', help='fail on raw ids missing from the TSV')
    args = parser.parse_args(argv)
    if args.frame_skip < 1:
        parser.error('--frame-skip must be >= 1')
    if args.resize is not None and min(args.resize) <= 0:
        parser.error('--resize values must be positive')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    source = Path(args.source)
    if not source.is_dir():
        print(f'error: {source}: not a directory', file=sys.stderr)
        return 1
    pairs = find_label_dirs(source, Path(args.out))
    if not pairs:
        print(f'error: {source}: no label PNGs and no <scene>/label-filt directories', file=sys.stderr)
        return 1
    try:
        mapping = load_label_map(args.tsv)
    except (OSError, LabelMapError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    failures = []
    for label_dir, out_dir in tqdm(pairs, desc='scenes', unit='scene', disable=len(pairs) == 1):
        try:
            export_labels(label_dir, out_dir, mapping, frame_skip=args.frame_skip, resize=args.resize,
                          strict=args.strict, progress=len(pairs) == 1)
        except (ValueError, OSError) as e:
            failures.append(str(e))
    for line in failures:
        print(f'error: {line}', file=sys.stderr)
    print(f'converted {len(pairs) - len(failures)}/{len(pairs)} label directories')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
