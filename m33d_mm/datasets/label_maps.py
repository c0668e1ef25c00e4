"""Semantic label spaces shared by the dataset converters and the dataset classes.

Only numpy is imported here so that both ``tools/dataset_converters`` and the dataset code can use these tables
without pulling in the OpenMMLab stack.

Label spaces:
    * NYU40: ids 1..40 (``NYU40_CLASSES[id - 1]``), 0 = unlabelled. This is what the converters write to disk.
    * NYU40 train ids: 0..39, 255 = ignore; used for 40-class NYUv2 segmentation.
    * ScanNet20 train ids: 0..19 (``SCANNET20_CLASSES``), 255 = ignore; the ScanNet benchmark subset of NYU40.
"""
from typing import Tuple

import numpy as np

IGNORE_INDEX = 255

NYU40_CLASSES: Tuple[str, ...] = (
    'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window', 'bookshelf',
    'picture', 'counter', 'blinds', 'desk', 'shelves', 'curtain', 'dresser', 'pillow', 'mirror', 'floor mat',
    'clothes', 'ceiling', 'books', 'refridgerator', 'television', 'paper', 'towel', 'shower curtain', 'box',
    'whiteboard', 'person', 'night stand', 'toilet', 'sink', 'lamp', 'bathtub', 'bag', 'otherstructure',
    'otherfurniture', 'otherprop')

# NYU40 ids of the ScanNet benchmark classes; position in this tuple is the ScanNet20 train id.
SCANNET20_NYU40_IDS: Tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)

SCANNET20_CLASSES: Tuple[str, ...] = (
    'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window', 'bookshelf', 'picture',
    'counter', 'desk', 'curtain', 'refrigerator', 'shower curtain', 'toilet', 'sink', 'bathtub', 'otherfurniture')


def _build_lut(pairs) -> np.ndarray:
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for src, dst in pairs:
        lut[src] = dst
    lut.flags.writeable = False
    return lut


# 256 entries so that any uint8 label image can be indexed directly; ids 41..255 never reach the table because
# they are rejected first (see ``_check_nyu40``).
NYU40_TO_SCANNET20: np.ndarray = _build_lut((nyu, i) for i, nyu in enumerate(SCANNET20_NYU40_IDS))
NYU40_TO_NYU40_TRAIN: np.ndarray = _build_lut((nyu, nyu - 1) for nyu in range(1, len(NYU40_CLASSES) + 1))


def _check_nyu40(label: np.ndarray) -> np.ndarray:
    """Validates that ``label`` holds NYU40 ids (0..40) and returns it as an integer array.

    Raises:
        ValueError: On non-integer input or ids outside 0..40; the message lists the offending ids so that the
            caller can prefix the file name.
    """
    label = np.asarray(label)
    if not np.issubdtype(label.dtype, np.integer):
        raise ValueError(f'NYU40 labels must be integers, got dtype {label.dtype}')
    if label.size and (label.min() < 0 or label.max() > len(NYU40_CLASSES)):
        bad = np.unique(label[(label < 0) | (label > len(NYU40_CLASSES))])
        shown = ', '.join(str(int(v)) for v in bad[:20]) + (', ...' if bad.size > 20 else '')
        raise ValueError(f'label ids outside NYU40 range 0..{len(NYU40_CLASSES)}: {shown}')
    return label


def nyu40_to_scannet20(label: np.ndarray) -> np.ndarray:
    """Maps NYU40 ids to ScanNet20 train ids.

    Args:
        label: Integer array of any shape, e.g. (H, W), with NYU40 ids 0..40.

    Returns:
        uint8 array of the same shape: 0..19 for the benchmark classes, 255 for unlabelled and all other classes.

    Raises:
        ValueError: If any id is outside 0..40 (the offending ids are named).
    """
    return NYU40_TO_SCANNET20[_check_nyu40(label)]


def nyu40_to_nyu40_train(label: np.ndarray) -> np.ndarray:
    """Maps NYU40 ids 1..40 to train ids 0..39 and unlabelled (0) to 255.

    Args:
        label: Integer array of any shape, e.g. (H, W), with NYU40 ids 0..40.

    Returns:
        uint8 array of the same shape.

    Raises:
        ValueError: If any id is outside 0..40 (the offending ids are named).
    """
    return NYU40_TO_NYU40_TRAIN[_check_nyu40(label)]
