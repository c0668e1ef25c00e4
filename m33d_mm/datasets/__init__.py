"""RGB-D datasets and transforms, registered in mmpretrain's registries on import."""
from .. import compat  # noqa: F401
from .lists import ListLine, frame_sort_key, read_list_lines, read_split_file
from .rgbd_frames import RGBDFrameDataset
from .robust import RobustDataset, TooManyBadSamplesError
from .rgbd_video import RGBDVideoDataset, parse_label, read_phase_segments, read_video_list
from .subsets import select_subset
from .transforms.rgbd import (LoadRGBDFromFile, PackRGBDInputs, RGBDDataError, RGBDRandomFlip,
                              RGBDRandomResizedCrop, RGBDResize, read_depth, read_rgb)
from .transforms.video import (LoadRGBDVideoClip, PackRGBDClipInputs, RGBDClipRandomFlip, RGBDClipRandomResizedCrop,
                               RGBDClipResize)

__all__ = [
    'RGBDFrameDataset', 'read_split_file', 'LoadRGBDFromFile', 'PackRGBDInputs', 'RGBDDataError',
    'RGBDRandomFlip', 'RGBDRandomResizedCrop', 'RGBDResize', 'read_depth', 'read_rgb', 'RGBDVideoDataset',
    'parse_label', 'read_phase_segments', 'read_video_list', 'LoadRGBDVideoClip', 'PackRGBDClipInputs',
    'RGBDClipRandomFlip', 'RGBDClipRandomResizedCrop', 'RGBDClipResize', 'RobustDataset', 'TooManyBadSamplesError',
    'select_subset', 'ListLine', 'frame_sort_key', 'read_list_lines'
]
