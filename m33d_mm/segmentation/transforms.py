"""Loading of NYU40-id label images for the segmentation datasets."""
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ..datasets.label_maps import IGNORE_INDEX, nyu40_to_nyu40_train, nyu40_to_scannet20
from ..datasets.transforms.rgbd import RGBDDataError

LABEL_SPACES = {'scannet20': nyu40_to_scannet20, 'nyu40': nyu40_to_nyu40_train}


@TRANSFORMS.register_module()
class LoadNYU40Annotations(BaseTransform):
    """Load a label PNG of NYU40 ids (0 = unlabelled), check it and map it to train ids.

    Both ScanNet (``tools/dataset_converters/scannet_labels.py``) and NYUv2 (``nyuv2.py``) labels are stored as
    NYU40 ids; the label space decides the train ids: 'scannet20' (the 20 ScanNet benchmark classes, all other
    ids ignored) or 'nyu40' (ids 1..40 -> 0..39). Unlabelled pixels become ``255`` (ignored by the losses and
    the metric). A ``label_map`` set by the dataset (mmseg's class-subset mechanism) is applied to the train
    ids afterwards.

    Required keys: ``seg_map_path``, ``img_path`` and ``ori_shape`` (run after ``LoadImageFromFile``);
    ``label_space`` unless given here. Added keys: ``gt_seg_map`` (H, W) uint8, ``seg_fields``.

    Args:
        label_space (str, optional): 'scannet20' or 'nyu40'; None takes ``results['label_space']``, which the
            datasets of this package set.

    Raises:
        RGBDDataError: when the label file cannot be decoded, holds ids outside 0..40 or differs in size from
            its image; the message names the file(s).
    """

    def __init__(self, label_space: Optional[str] = None):
        super().__init__()
        if label_space is not None and label_space not in LABEL_SPACES:
            raise ValueError(f'LoadNYU40Annotations.label_space must be one of {sorted(LABEL_SPACES)}, '
                             f'got "{label_space}"')
        self.label_space = label_space

    def transform(self, results: dict) -> dict:
        path = results['seg_map_path']
        space = self.label_space or results.get('label_space')
        if space not in LABEL_SPACES:
            raise KeyError(f'{path}: no label space; set LoadNYU40Annotations.label_space to one of '
                           f'{sorted(LABEL_SPACES)} or use a dataset that sets results["label_space"]')
        buffer = np.fromfile(path, dtype=np.uint8)
        label = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if buffer.size else None
        if label is None:
            raise RGBDDataError(f'label image {path} is empty or corrupt (could not be decoded)')
        if label.ndim != 2:
            raise RGBDDataError(f'label image {path} has {label.shape[2]} channels, expected a single-channel '
                                'PNG of NYU40 ids')
        image_shape = tuple(results['ori_shape'][:2])
        if label.shape != image_shape:
            raise RGBDDataError(f'label image {path} is {label.shape[0]}x{label.shape[1]} but its image '
                                f'{results["img_path"]} is {image_shape[0]}x{image_shape[1]}; labels must have '
                                'the size of their image (resize both in the converter)')
        try:
            label = LABEL_SPACES[space](label)
        except ValueError as err:
            raise RGBDDataError(f'label image {path}: {err}; expected NYU40 ids (raw ScanNet label ids are '
                                'converted by tools/dataset_converters/scannet_labels.py)') from err
        label_map = results.get('label_map')
        if label_map:
            lut = np.arange(256, dtype=np.uint8)
            for old, new in label_map.items():
                lut[old] = new
            lut[IGNORE_INDEX] = IGNORE_INDEX
            label = lut[label]
        results['gt_seg_map'] = label
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(label_space={self.label_space!r})'
