"""Loading, paired geometric augmentation and packing of RGB-D samples.

Geometric transforms apply the same crop / flip to RGB and depth. Depth is resized with nearest-neighbour
interpolation so that missing readings (0) are never blended into valid ones.
"""
from typing import Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS
from mmpretrain.structures import DataSample

from ..image_checks import SATURATION_LIMIT, decode_checked, depth_saturation, report


class RGBDDataError(ValueError):
    """A sample on disk is not a valid RGB-D pair; the message names the file."""


def read_rgb(path: str) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB; raises :class:`RGBDDataError` naming the file if it cannot be decoded."""
    try:
        with open(path, 'rb') as f:
            buffer = f.read()
    except OSError as err:
        raise RGBDDataError(f'cannot read colour image {path}: {err}') from err
    img, damage = decode_checked(buffer, cv2.IMREAD_COLOR)
    if img is None:
        raise RGBDDataError(f'colour image {path} is empty or corrupt (could not be decoded)')
    if damage:
        report(path, 'damaged_image', f'colour image {path} decodes damaged: {damage}')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_unchanged(path: str, what: str) -> np.ndarray:
    """An image file decoded as stored (any depth and channel count); errors name ``what`` and the file.

    Raises:
        RGBDDataError: the file cannot be read, is empty or does not decode.
    """
    try:
        with open(path, 'rb') as f:
            buffer = f.read()
    except OSError as err:
        raise RGBDDataError(f'cannot read {what} {path}: {err}') from err
    image = cv2.imdecode(np.frombuffer(buffer, np.uint8), cv2.IMREAD_UNCHANGED) if buffer else None
    if image is None:
        raise RGBDDataError(f'{what} {path} is empty or corrupt (could not be decoded)')
    return image


def read_depth(path: str, depth_scale: float) -> np.ndarray:
    """``(H, W)`` float32 depth in metres with 0 where missing.

    Args:
        path (str): single-channel 16-bit PNG (ScanNet / NYUv2 convention: millimetres, 0 = missing).
        depth_scale (float): raw units per metre (1000 for millimetres).
    """
    depth = read_unchanged(path, 'depth map')
    if depth.ndim != 2:
        raise RGBDDataError(f'depth map {path} has {depth.shape[2]} channels, expected a single-channel '
                            '16-bit PNG')
    if depth.dtype != np.uint16:
        raise RGBDDataError(f'depth map {path} is {depth.dtype}, expected uint16 (depth in 1/{depth_scale} m)')
    saturated = depth_saturation(depth)
    if saturated >= SATURATION_LIMIT:
        report(path, 'depth_saturated', f'depth map {path}: {saturated:.0%} of its pixels are 65535 (saturated)')
    return depth.astype(np.float32) / float(depth_scale)


@TRANSFORMS.register_module()
class LoadRGBDFromFile(BaseTransform):
    """Load a colour image and its depth map; sets ``img`` (RGB uint8) and ``depth`` (float32 metres).

    Required keys: ``img_path``, ``depth_path``. Added: ``img``, ``depth``, ``img_shape``, ``ori_shape``.

    Args:
        depth_scale (float): raw depth units per metre (1000 = millimetres).
        min_valid_fraction (float): a depth map with a smaller fraction of valid pixels is an error
            (default: any valid pixel suffices; all-invalid is always an error).
        max_depth (float, optional): readings beyond this many metres are treated as missing.
    """

    def __init__(self, depth_scale: float = 1000., min_valid_fraction: float = 0.0,
                 max_depth: Optional[float] = None):
        self.depth_scale = depth_scale
        self.min_valid_fraction = min_valid_fraction
        self.max_depth = max_depth

    def transform(self, results: dict) -> dict:
        img = read_rgb(results['img_path'])
        depth = read_depth(results['depth_path'], self.depth_scale)
        if img.shape[:2] != depth.shape:
            raise RGBDDataError(f'size mismatch: colour {results["img_path"]} is {img.shape[:2]} (H, W) but '
                                f'depth {results["depth_path"]} is {depth.shape}')
        if self.max_depth is not None:
            depth[depth > self.max_depth] = 0
        valid_fraction = float((depth > 0).mean())
        if valid_fraction == 0 or valid_fraction < self.min_valid_fraction:
            wanted = (f'at least {self.min_valid_fraction:.1%}' if self.min_valid_fraction > 0 else
                      'some valid (non-zero) depth')
            raise RGBDDataError(f'depth map {results["depth_path"]} has {valid_fraction:.1%} valid pixels, '
                                f'expected {wanted}')
        results['img'] = img
        results['depth'] = depth
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class RGBDRandomResizedCrop(RandomResizedCrop):
    """mmpretrain's ``RandomResizedCrop`` applied with one crop box to ``img`` and ``depth``.

    Args are those of mmpretrain's ``RandomResizedCrop``; ``scale`` is ``(h, w)``.
    """

    def transform(self, results: dict) -> dict:
        offset_h, offset_w, target_h, target_w = self.rand_crop_params(results['img'])
        box = np.array([offset_w, offset_h, offset_w + target_w - 1, offset_h + target_h - 1])
        size = tuple(self.scale[::-1])
        results['img'] = mmcv.imresize(mmcv.imcrop(results['img'], bboxes=box), size,
                                       interpolation=self.interpolation, backend=self.backend)
        results['depth'] = mmcv.imresize(mmcv.imcrop(results['depth'], bboxes=box), size,
                                         interpolation='nearest', backend='cv2')
        results['img_shape'] = results['img'].shape[:2]
        return results


@TRANSFORMS.register_module()
class RGBDResize(BaseTransform):
    """Resize ``img`` (bilinear) and ``depth`` (nearest) to ``scale = (h, w)``."""

    def __init__(self, scale: Tuple[int, int]):
        self.scale = tuple(scale)

    def transform(self, results: dict) -> dict:
        size = self.scale[::-1]
        results['img'] = mmcv.imresize(results['img'], size, interpolation='bilinear')
        results['depth'] = mmcv.imresize(results['depth'], size, interpolation='nearest')
        results['img_shape'] = results['img'].shape[:2]
        return results


@TRANSFORMS.register_module()
class RGBDRandomFlip(BaseTransform):
    """Horizontal flip of ``img`` and ``depth`` together with probability ``prob``."""

    def __init__(self, prob: float = 0.5):
        if not 0 <= prob <= 1:
            raise ValueError(f'RGBDRandomFlip.prob must be in [0, 1], got {prob}')
        self.prob = prob

    def transform(self, results: dict) -> dict:
        flip = bool(np.random.rand() < self.prob)
        if flip:
            results['img'] = np.ascontiguousarray(results['img'][:, ::-1])
            results['depth'] = np.ascontiguousarray(results['depth'][:, ::-1])
        results['flip'] = flip
        return results


@TRANSFORMS.register_module()
class PackRGBDInputs(BaseTransform):
    """Pack an RGB-D sample: ``inputs = dict(rgb=(3, H, W) uint8, depth=(1, H, W) float32 metres)``.

    Normalisation happens batched in :class:`~m33d_mm.models.RGBDDataPreprocessor`.

    Args:
        meta_keys (sequence): keys copied into the data sample's metainfo when present.
    """

    def __init__(self, meta_keys: Sequence[str] = ('img_path', 'depth_path', 'scene', 'frame', 'ori_shape',
                                                   'img_shape', 'flip')):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        rgb = torch.from_numpy(np.ascontiguousarray(results['img'].transpose(2, 0, 1)))
        depth = torch.from_numpy(np.ascontiguousarray(results['depth'], dtype=np.float32))[None]
        sample = DataSample()
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=dict(rgb=rgb, depth=depth), data_samples=sample)
