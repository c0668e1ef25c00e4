"""RGB-D datasets and transforms, registered in mmpretrain's registries on import."""
from .. import compat  # noqa: F401
from .rgbd_frames import RGBDFrameDataset, read_split_file
from .transforms.rgbd import (LoadRGBDFromFile, PackRGBDInputs, RGBDDataError, RGBDRandomFlip,
                              RGBDRandomResizedCrop, RGBDResize, read_depth, read_rgb)

__all__ = [
    'RGBDFrameDataset', 'read_split_file', 'LoadRGBDFromFile', 'PackRGBDInputs', 'RGBDDataError',
    'RGBDRandomFlip', 'RGBDRandomResizedCrop', 'RGBDResize', 'read_depth', 'read_rgb'
]
