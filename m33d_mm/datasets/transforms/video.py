"""Loading, paired spatial augmentation and packing of RGB-D video clips.

A clip is ``T`` frames of RGB (a video file decoded with decord, or a folder of images read with OpenCV) and the
``T`` depth frames at the same indices (a folder of uint16 PNGs). Every spatial transform draws its parameters
once per clip and applies them to all frames of both modalities, so a token of the RGB tubelet grid and the
token at the same place in the depth grid always cover the same scene content. Depth is resized with
nearest-neighbour interpolation so that missing readings (0) are never blended into valid ones.

Results keys follow mmaction2 where they exist (``imgs``, ``frame_inds``, ``total_frames``, ``clip_len``,
``frame_interval``); the clip arrays are ``imgs`` ``(T, H, W, 3)`` uint8 RGB and ``depths`` ``(T, H, W)`` float32
metres, 0 where missing.
"""
import json
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import cv2
import decord
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS
from mmpretrain.structures import DataSample

from ..lists import frame_sort_key
from .rgbd import RGBDDataError, read_depth, read_rgb

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.mpg', '.mpeg')
RGB_FRAME_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')
DEPTH_FRAME_EXTENSIONS = ('.png', )
# Written into a depth frame folder by tools/data/extract_depth.py and the synthetic generator; optional.
DEPTH_META_FILE = 'depth_meta.json'


def list_frames(folder: str, extensions: Sequence[str], kind: str) -> List[str]:
    """Image files of a frame folder in frame order (numeric stems numerically, others after them by name).

    Raises:
        RGBDDataError: the folder does not exist or holds no frame with one of ``extensions``.
    """
    if not osp.isdir(folder):
        raise RGBDDataError(f'{kind} frame folder {folder} does not exist')
    names = sorted((n for n in os.listdir(folder) if n.lower().endswith(tuple(extensions))), key=frame_sort_key)
    if not names:
        raise RGBDDataError(f'{kind} frame folder {folder} holds no frames (expected files ending in '
                            f'{", ".join(extensions)})')
    return [osp.join(folder, n) for n in names]


def read_depth_scale(depth_dir: str, default: float) -> float:
    """Raw depth units per metre of a depth frame folder: ``depth_scale`` of its ``depth_meta.json`` if it has
    one, else ``default``."""
    path = osp.join(depth_dir, DEPTH_META_FILE)
    if not osp.isfile(path):
        return float(default)
    try:
        with open(path) as f:
            scale = float(json.load(f)['depth_scale'])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RGBDDataError(f'{path}: expected a JSON object with a numeric "depth_scale" (raw units per metre), '
                            f'could not read it ({type(err).__name__}: {err})') from err
    if not scale > 0:
        raise RGBDDataError(f'{path}: depth_scale must be positive, got {scale}')
    return scale


class VideoFileFrames:
    """RGB frames of a video file, decoded with decord.

    Args:
        path (str): video file.
        num_threads (int): decoder threads (1 inside data-loader workers, which already run in parallel).
    """

    def __init__(self, path: str, num_threads: int = 1):
        self.path = path
        if not osp.isfile(path):
            raise RGBDDataError(f'video {path} does not exist')
        if osp.getsize(path) == 0:
            raise RGBDDataError(f'video {path} is empty (0 bytes, zero-length video)')
        try:
            self.reader = decord.VideoReader(path, num_threads=num_threads)
        except Exception as err:  # decord raises DECORDError or RuntimeError depending on what is wrong
            reason = str(err).strip().splitlines()[-1][:200] if str(err).strip() else type(err).__name__
            raise RGBDDataError(f'cannot decode video {path}: not a video decord can read, or it has no video '
                                f'stream (zero-length or corrupt file); decord said: {reason}') from err
        if len(self.reader) == 0:
            raise RGBDDataError(f'video {path} has no frames (zero-length video)')

    def __len__(self) -> int:
        return len(self.reader)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """``(len(indices), H, W, 3)`` uint8 RGB frames."""
        try:
            return self.reader.get_batch(list(indices)).asnumpy()
        except Exception as err:
            raise RGBDDataError(f'video {self.path}: decoding frames {[int(i) for i in indices]} of {len(self)} '
                                f'failed ({type(err).__name__}: {str(err)[:200]}); decord 0.6 cannot decode some '
                                'frame sizes (48 px wide, for one): re-encode the video or extract its frames into '
                                'a folder') from err


class FrameFolderFrames:
    """RGB frames stored as one image per frame in a folder, read with OpenCV."""

    def __init__(self, folder: str):
        self.path = folder
        self.files = list_frames(folder, RGB_FRAME_EXTENSIONS, 'RGB')

    def __len__(self) -> int:
        return len(self.files)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        frames = [read_rgb(self.files[i]) for i in indices]
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            raise RGBDDataError(f'RGB frames of {self.path} differ in size: {sorted(shapes)}')
        return np.stack(frames)


def open_rgb_frames(path: str, num_threads: int = 1):
    """:class:`VideoFileFrames` for a video file, :class:`FrameFolderFrames` for a folder."""
    if osp.isdir(path):
        return FrameFolderFrames(path)
    return VideoFileFrames(path, num_threads=num_threads)


def sample_clip_indices(total_frames: int, clip_len: int, frame_interval: int, random_start: bool,
                        short_video: str = 'error', source: str = 'video') -> Tuple[np.ndarray, int]:
    """Indices of one clip of ``clip_len`` frames, ``frame_interval`` apart.

    Args:
        total_frames (int): frames in the video.
        clip_len (int): frames per clip T.
        frame_interval (int): stride between sampled frames.
        random_start (bool): uniform random start (training) or the centred clip (testing).
        short_video (str): when the video is shorter than ``(clip_len - 1) * frame_interval + 1`` frames,
            'error' raises and 'shrink' uses the largest interval that fits.
        source (str): named in error messages.

    Returns:
        tuple: ``(clip_len,)`` int64 indices and the interval used.
    """
    if total_frames < clip_len:
        raise RGBDDataError(f'{source} has {total_frames} frames, fewer than the {clip_len} frames of a clip')
    span = (clip_len - 1) * frame_interval + 1
    if total_frames < span:
        if short_video != 'shrink':
            raise RGBDDataError(
                f'{source} has {total_frames} frames, the clip needs {span} ({clip_len} frames, interval '
                f'{frame_interval}); use a smaller frame_interval or short_video="shrink"')
        frame_interval = max(1, (total_frames - 1) // max(1, clip_len - 1))
        span = (clip_len - 1) * frame_interval + 1
    free = total_frames - span
    start = int(np.random.randint(free + 1)) if random_start else free // 2
    return start + np.arange(clip_len, dtype=np.int64) * frame_interval, frame_interval


@TRANSFORMS.register_module()
class LoadRGBDVideoClip(BaseTransform):
    """Sample one clip and load its RGB and depth frames.

    The RGB source (video file or frame folder) and the depth frame folder must hold the same number of frames
    of the same size: depth frame ``i`` is the depth of RGB frame ``i``. Every mismatch raises
    :class:`RGBDDataError` naming the file.

    Required keys: ``rgb_path`` (video file or frame folder), ``depth_dir``.
    Added keys: ``imgs``, ``depths``, ``frame_inds``, ``total_frames``, ``clip_len``, ``frame_interval``,
    ``depth_scale``, ``img_shape``, ``ori_shape``.

    Args:
        clip_len (int): frames per clip T (16 for the paper's video models).
        frame_interval (int): stride between sampled frames (VideoMAE samples UCF-101 every 4th frame).
        test_mode (bool): take the centred clip instead of a random one.
        short_video (str): 'error' or 'shrink', see :func:`sample_clip_indices`.
        depth_scale (float): raw depth units per metre (1000 = millimetres) for folders without a
            ``depth_meta.json``; the file's ``depth_scale`` wins where present.
        max_depth (float, optional): readings beyond this many metres are treated as missing.
        num_threads (int): decord decoding threads.
    """

    def __init__(self,
                 clip_len: int = 16,
                 frame_interval: int = 4,
                 test_mode: bool = False,
                 short_video: str = 'error',
                 depth_scale: float = 1000.,
                 max_depth: Optional[float] = None,
                 num_threads: int = 1):
        if clip_len < 1 or frame_interval < 1:
            raise ValueError(f'LoadRGBDVideoClip: clip_len and frame_interval must be >= 1, got {clip_len}, '
                             f'{frame_interval}')
        if short_video not in ('error', 'shrink'):
            raise ValueError(f'LoadRGBDVideoClip.short_video must be "error" or "shrink", got "{short_video}"')
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.test_mode = test_mode
        self.short_video = short_video
        self.depth_scale = depth_scale
        self.max_depth = max_depth
        self.num_threads = num_threads

    def transform(self, results: dict) -> dict:
        rgb_path, depth_dir = results['rgb_path'], results['depth_dir']
        rgb = open_rgb_frames(rgb_path, self.num_threads)
        depth_files = list_frames(depth_dir, DEPTH_FRAME_EXTENSIONS, 'depth')
        if len(depth_files) != len(rgb):
            raise RGBDDataError(f'{depth_dir} holds {len(depth_files)} depth frames but the RGB {rgb_path} has '
                                f'{len(rgb)} frames; every RGB frame needs its depth frame')
        inds, interval = sample_clip_indices(len(rgb), self.clip_len, self.frame_interval,
                                             random_start=not self.test_mode, short_video=self.short_video,
                                             source=f'RGB {rgb_path}')
        imgs = rgb.read(inds)
        scale = read_depth_scale(depth_dir, self.depth_scale)
        depths = np.empty(imgs.shape[:3], dtype=np.float32)
        for k, i in enumerate(inds):
            depth = read_depth(depth_files[i], scale)
            if depth.shape != imgs.shape[1:3]:
                raise RGBDDataError(f'depth frame {depth_files[i]} is {depth.shape} (H, W) but RGB frame {i} of '
                                    f'{rgb_path} is {imgs.shape[1:3]}')
            depths[k] = depth
        if self.max_depth is not None:
            depths[depths > self.max_depth] = 0
        results.update(imgs=imgs, depths=depths, frame_inds=inds, total_frames=len(rgb), clip_len=self.clip_len,
                       frame_interval=interval, depth_scale=scale, img_shape=imgs.shape[1:3],
                       ori_shape=imgs.shape[1:3])
        return results


def _resize_clip(frames: np.ndarray, size_hw: Tuple[int, int], interpolation: int) -> np.ndarray:
    out_size = (int(size_hw[1]), int(size_hw[0]))
    return np.stack([cv2.resize(f, out_size, interpolation=interpolation) for f in frames])


_CV2_INTERP = dict(nearest=cv2.INTER_NEAREST, bilinear=cv2.INTER_LINEAR, bicubic=cv2.INTER_CUBIC,
                   area=cv2.INTER_AREA, lanczos=cv2.INTER_LANCZOS4)


@TRANSFORMS.register_module()
class RGBDClipRandomResizedCrop(RandomResizedCrop):
    """mmpretrain's ``RandomResizedCrop`` with one crop box for every frame of ``imgs`` and ``depths``.

    Args are those of mmpretrain's ``RandomResizedCrop`` (``scale`` is ``(h, w)``; an int means square);
    RGB uses ``interpolation`` through OpenCV, depth always nearest.
    """

    def transform(self, results: dict) -> dict:
        if self.interpolation not in _CV2_INTERP:
            raise ValueError(f'RGBDClipRandomResizedCrop.interpolation must be one of {sorted(_CV2_INTERP)}, '
                             f'got "{self.interpolation}"')
        imgs, depths = results['imgs'], results['depths']
        top, left, height, width = self.rand_crop_params(imgs[0])
        size = tuple(self.scale)
        results['imgs'] = _resize_clip(imgs[:, top:top + height, left:left + width], size,
                                       _CV2_INTERP[self.interpolation])
        results['depths'] = _resize_clip(depths[:, top:top + height, left:left + width], size, cv2.INTER_NEAREST)
        results['crop_bbox'] = np.array([left, top, left + width, top + height])
        results['img_shape'] = results['imgs'].shape[1:3]
        return results


@TRANSFORMS.register_module()
class RGBDClipResize(BaseTransform):
    """Resize every frame of ``imgs`` (bilinear) and ``depths`` (nearest) to ``scale = (h, w)``."""

    def __init__(self, scale: Tuple[int, int]):
        self.scale = tuple(scale)

    def transform(self, results: dict) -> dict:
        results['imgs'] = _resize_clip(results['imgs'], self.scale, cv2.INTER_LINEAR)
        results['depths'] = _resize_clip(results['depths'], self.scale, cv2.INTER_NEAREST)
        results['img_shape'] = results['imgs'].shape[1:3]
        return results


@TRANSFORMS.register_module()
class RGBDClipRandomFlip(BaseTransform):
    """Horizontal flip of the whole clip, RGB and depth together, with probability ``prob``."""

    def __init__(self, prob: float = 0.5):
        if not 0 <= prob <= 1:
            raise ValueError(f'RGBDClipRandomFlip.prob must be in [0, 1], got {prob}')
        self.prob = prob

    def transform(self, results: dict) -> dict:
        flip = bool(np.random.rand() < self.prob)
        if flip:
            results['imgs'] = np.ascontiguousarray(results['imgs'][:, :, ::-1])
            results['depths'] = np.ascontiguousarray(results['depths'][:, :, ::-1])
        results['flip'] = flip
        return results


@TRANSFORMS.register_module()
class PackRGBDClipInputs(BaseTransform):
    """Pack a clip: ``inputs = dict(rgb=(3, T, H, W) uint8, depth=(1, T, H, W) float32 metres)``.

    The data sample carries ``gt_label`` when the annotation line has a label (an int, or a list of ints for
    multi-label clips) and ``meta_keys`` in its metainfo. Normalisation happens batched in
    :class:`~m33d_mm.models.RGBDDataPreprocessor`.

    Args:
        meta_keys (sequence): keys copied into the data sample's metainfo when present.
    """

    def __init__(self, meta_keys: Sequence[str] = ('rgb_path', 'depth_dir', 'video_id', 'frame_inds',
                                                   'total_frames', 'clip_len', 'frame_interval', 'depth_scale',
                                                   'ori_shape', 'img_shape', 'flip')):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        rgb = torch.from_numpy(np.ascontiguousarray(results['imgs'].transpose(3, 0, 1, 2)))
        depth = torch.from_numpy(np.ascontiguousarray(results['depths'], dtype=np.float32))[None]
        sample = DataSample()
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        if results.get('gt_label') is not None:
            sample.set_gt_label(results['gt_label'])
        return dict(inputs=dict(rgb=rgb, depth=depth), data_samples=sample)
