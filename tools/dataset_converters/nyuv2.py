"""Convert the NYU Depth v2 labelled release to per-sample PNGs with the official train/test split.

Inputs:
    * ``nyu_depth_v2_labeled.mat``: MATLAB v7.3 (HDF5). MATLAB writes arrays with their dimensions reversed, so
      the datasets are ``images`` (N, 3, W, H) uint8 RGB, ``depths`` (N, W, H) float metres and ``labels``
      (N, W, H) integer ids over 894 classes (0 = unlabelled); N = 1449, H x W = 480 x 640 in the release.
    * ``splits.mat``: MATLAB v5 with 1-based column vectors ``trainNdxs`` (795) and ``testNdxs`` (654).
    * ``classMapping40.mat``: MATLAB v5 with ``mapClass`` (1 x 894), the NYU40 id of each 894-class id.

Output, with stems ``<idx:04d>`` being the 1-based sample index used by ``splits.mat``::

    <out>/{train,test}/rgb/<idx:04d>.png     H x W x 3 RGB (``--rgb-format jpg`` for JPEG)
    <out>/{train,test}/depth/<idx:04d>.png   H x W uint16 millimetres, 0 = invalid
    <out>/{train,test}/label/<idx:04d>.png   H x W uint8 NYU40 ids, 0 = unlabelled
    <out>/train.txt, <out>/test.txt          one stem per line

Usage::

    python tools/dataset_converters/nyuv2.py nyu_depth_v2_labeled.mat data/nyuv2 \\
        --splits splits.mat --class-map classMapping40.mat
"""
import argparse
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import cv2
import h5py
import numpy as np
import scipy.io
from tqdm import tqdm

PathLike = Union[str, os.PathLike]

SPLITS = ('train', 'test')
SPLIT_KEYS = {'train': 'trainNdxs', 'test': 'testNdxs'}
NUM_NYU40 = 40


class NYUv2FormatError(ValueError):
    """An NYUv2 input file is missing a key or holds inconsistent data."""


def _loadmat_v5(path: PathLike, key: str) -> np.ndarray:
    try:
        mat = scipy.io.loadmat(path)
    except (ValueError, NotImplementedError, TypeError) as e:
        # scipy reads MATLAB v4-v7.2 only; a v7.3 file or a non-MAT file ends up here.
        raise NYUv2FormatError(f'{path}: not a readable MATLAB v5 .mat file ({e})') from e
    if key not in mat:
        found = sorted(k for k in mat if not k.startswith('__'))
        raise NYUv2FormatError(f'{path}: missing key {key!r} (found {found})')
    return np.asarray(mat[key])


def _as_indices(values: np.ndarray, path: PathLike, key: str) -> np.ndarray:
    flat = values.ravel()
    if flat.size == 0:
        raise NYUv2FormatError(f'{path}: {key!r} is empty')
    if not np.issubdtype(flat.dtype, np.number) or not np.all(np.isfinite(flat)) \
            or not np.array_equal(flat, np.round(flat)):
        raise NYUv2FormatError(f'{path}: {key!r} must hold integers')
    return flat.astype(np.int64)


def load_splits(path: PathLike, num_samples: int) -> Dict[str, np.ndarray]:
    """Reads the official split.

    Args:
        path: ``splits.mat``.
        num_samples: N, the number of samples in the labelled ``.mat``.

    Returns:
        ``{'train': idx, 'test': idx}`` with sorted 1-based int64 index arrays.

    Raises:
        NYUv2FormatError: Missing key, indices outside 1..N, duplicates, or a sample in both splits. The message
            names the file and key.
    """
    splits = {}
    for split, key in SPLIT_KEYS.items():
        idx = _as_indices(_loadmat_v5(path, key), path, key)
        if idx.min() < 1 or idx.max() > num_samples:
            raise NYUv2FormatError(f'{path}: {key!r} has indices outside 1..{num_samples} '
                                   f'(min {idx.min()}, max {idx.max()}); does it belong to this labelled .mat?')
        if np.unique(idx).size != idx.size:
            raise NYUv2FormatError(f'{path}: {key!r} has duplicate indices')
        splits[split] = np.sort(idx)
    overlap = np.intersect1d(splits['train'], splits['test'])
    if overlap.size:
        raise NYUv2FormatError(f'{path}: {overlap.size} indices are in both trainNdxs and testNdxs, '
                               f'e.g. {overlap[:5].tolist()}')
    return splits


def load_class_mapping(path: PathLike) -> np.ndarray:
    """Reads ``mapClass`` as a lookup table from 894-class ids to NYU40 ids.

    Args:
        path: ``classMapping40.mat``.

    Returns:
        (K + 1,) uint8 table, K = number of source classes (894): entry 0 is unlabelled (0), entry k the NYU40 id
        of class k.

    Raises:
        NYUv2FormatError: Missing ``mapClass`` or values outside 0..40; the message names the file and key.
    """
    values = _as_indices(_loadmat_v5(path, 'mapClass'), path, 'mapClass')
    if values.min() < 0 or values.max() > NUM_NYU40:
        raise NYUv2FormatError(f'{path}: \'mapClass\' values must be NYU40 ids 0..{NUM_NYU40}, '
                               f'got range {values.min()}..{values.max()}')
    return np.concatenate([[0], values]).astype(np.uint8)


def depth_to_mm(depth_m: np.ndarray) -> np.ndarray:
    """Converts depth in metres to uint16 millimetres.

    Args:
        depth_m: (H, W) float depth in metres.

    Returns:
        (H, W) uint16 millimetres; non-finite, non-positive and unrepresentable (> 65.535 m) depths become 0 so
        that they read as invalid rather than as a wrong distance.
    """
    mm = np.rint(np.nan_to_num(depth_m.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0) * 1000.0)
    mm[(mm <= 0) | (mm > np.iinfo(np.uint16).max)] = 0
    return mm.astype(np.uint16)


class NYUv2Labeled:
    """Random access to ``nyu_depth_v2_labeled.mat`` with the MATLAB transposition undone.

    Args:
        path: The labelled MATLAB v7.3 file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NYUv2FormatError: Not an HDF5 file, a missing dataset key, or datasets whose sample counts or image sizes
            disagree; the message names the file and key.
    """

    def __init__(self, path: PathLike):
        self.path = str(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f'{path}: no such file')
        try:
            self._file = h5py.File(self.path, 'r')
        except OSError as e:
            raise NYUv2FormatError(f'{path}: not a MATLAB v7.3 (HDF5) file ({e})') from e
        try:
            self._images, self._depths, self._labels = (self._dataset(k) for k in ('images', 'depths', 'labels'))
            self._validate()
        except NYUv2FormatError:
            self._file.close()
            raise

    def _dataset(self, key: str) -> h5py.Dataset:
        if key not in self._file or not isinstance(self._file[key], h5py.Dataset):
            raise NYUv2FormatError(f'{self.path}: missing dataset {key!r} (found {sorted(self._file.keys())})')
        return self._file[key]

    def _validate(self) -> None:
        images = self._images
        if images.ndim != 4 or images.shape[1] != 3:
            raise NYUv2FormatError(f'{self.path}: \'images\' must be (N, 3, W, H), got {images.shape}')
        expected = (images.shape[0],) + images.shape[2:]
        for key, ds in (('depths', self._depths), ('labels', self._labels)):
            if ds.shape != expected:
                raise NYUv2FormatError(f'{self.path}: {key!r} has shape {ds.shape}, expected {expected} to match '
                                       f'\'images\' {images.shape} (mismatched sample count or size)')
        if not np.issubdtype(self._labels.dtype, np.integer):
            raise NYUv2FormatError(f'{self.path}: \'labels\' must be integer, got {self._labels.dtype}')

    def __len__(self) -> int:
        return self._images.shape[0]

    @property
    def image_size(self) -> Tuple[int, int]:
        """(H, W) of every sample."""
        return self._images.shape[3], self._images.shape[2]

    def __getitem__(self, i: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Reads sample ``i`` (0-based).

        Returns:
            rgb (H, W, 3) uint8, depth (H, W) float32 metres, labels (H, W) 894-class ids (0 = unlabelled).
        """
        rgb = np.ascontiguousarray(self._images[i].transpose(2, 1, 0))
        depth = np.ascontiguousarray(self._depths[i].T, dtype=np.float32)
        labels = np.ascontiguousarray(self._labels[i].T)
        return rgb, depth, labels

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> 'NYUv2Labeled':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _imwrite(path: Path, image: np.ndarray, params: Optional[List[int]] = None) -> None:
    # cv2.imwrite reports failure only through its return value.
    if not cv2.imwrite(str(path), image, params or []):
        raise OSError(f'failed to write {path}')


def convert_nyuv2(labeled_mat: PathLike, splits_mat: PathLike, class_map_mat: PathLike, out_dir: PathLike,
                  rgb_format: str = 'png', progress: bool = True) -> Dict[str, int]:
    """Writes the labelled NYUv2 samples of both official splits as PNG/JPEG files and split lists.

    Args:
        labeled_mat: ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3).
        splits_mat: ``splits.mat`` with ``trainNdxs`` / ``testNdxs``.
        class_map_mat: ``classMapping40.mat`` with ``mapClass``.
        out_dir: Output root (layout in the module docstring).
        rgb_format: ``'png'`` (lossless) or ``'jpg'``.
        progress: Show a tqdm bar.

    Returns:
        Number of samples written per split, e.g. ``{'train': 795, 'test': 654}``.

    Raises:
        NYUv2FormatError: Missing keys, inconsistent shapes/counts, or a label id without a class mapping. The
            message names the file and key (and sample for label errors).
    """
    if rgb_format not in ('png', 'jpg'):
        raise ValueError(f'rgb_format must be "png" or "jpg", got {rgb_format!r}')
    out_dir = Path(out_dir)
    lut = load_class_mapping(class_map_mat)
    with NYUv2Labeled(labeled_mat) as data:
        splits = load_splits(splits_mat, len(data))
        for split in SPLITS:
            for sub in ('rgb', 'depth', 'label'):
                (out_dir / split / sub).mkdir(parents=True, exist_ok=True)
        jobs = [(split, int(idx)) for split in SPLITS for idx in splits[split]]
        for split, idx in tqdm(jobs, desc='nyuv2', unit='img', disable=not progress):
            rgb, depth, labels = data[idx - 1]
            invalid = (labels < 0) | (labels >= lut.size)
            if invalid.any():
                bad = np.unique(labels[invalid])[:10].tolist()
                raise NYUv2FormatError(f'{labeled_mat}: \'labels\' of sample {idx} has ids {bad} beyond the '
                                       f'{lut.size - 1} classes of {class_map_mat}')
            stem = f'{idx:04d}'
            split_dir = out_dir / split
            rgb_params = [cv2.IMWRITE_JPEG_QUALITY, 95] if rgb_format == 'jpg' else None
            _imwrite(split_dir / 'rgb' / f'{stem}.{rgb_format}', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), rgb_params)
            _imwrite(split_dir / 'depth' / f'{stem}.png', depth_to_mm(depth))
            _imwrite(split_dir / 'label' / f'{stem}.png', lut[labels])
    # Lists are written last so that an interrupted run never leaves a list naming missing files.
    for split in SPLITS:
        (out_dir / f'{split}.txt').write_text(''.join(f'{int(i):04d}\n' for i in splits[split]))
    return {split: len(splits[split]) for split in SPLITS}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert nyu_depth_v2_labeled.mat to <out>/{train,test}/{rgb,depth,label}/ and split lists.')
    parser.add_argument('labeled_mat', help='nyu_depth_v2_labeled.mat (MATLAB v7.3)')
    parser.add_argument('out_dir', help='output root')
    parser.add_argument('--splits', required=True, help='splits.mat with trainNdxs/testNdxs')
    parser.add_argument('--class-map', required=True, help='classMapping40.mat with mapClass')
    parser.add_argument('--rgb-format', choices=('png', 'jpg'), default='png',
                        help='RGB file format (default: png, lossless)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        counts = convert_nyuv2(args.labeled_mat, args.splits, args.class_map, args.out_dir, args.rgb_format)
    except (ValueError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {counts["train"]} train and {counts["test"]} test samples to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
