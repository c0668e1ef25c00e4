"""RGB-D frame datasets laid out like a ScanNet export (also what the synthetic generator writes)."""
import math
import os
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS, TRANSFORMS

from .lists import frame_sort_key, read_split_file


@DATASETS.register_module()
class RGBDFrameDataset(BaseDataset):
    """Paired RGB and depth frames: ``<data_root>/<scene>/color/<frame>.jpg`` and
    ``<data_root>/<scene>/depth/<frame>.png`` (uint16 millimetres, 0 = missing).

    This is the layout of a ScanNet ``.sens`` export (``tools/dataset_converters/scannet_sens.py``) and of
    the synthetic scenes (``tools/data/generate_synthetic_rgbd.py``).

    Args:
        data_root (str): folder holding one sub-folder per scene.
        split_file (str, optional): text file of scene ids (relative to ``data_root`` unless absolute).
            Without it, every sub-folder that has a ``color`` folder is a scene.
        frame_skip (int): keep the frames whose number is a multiple of ``frame_skip`` (ScanNet
            pre-training: 25). Frame numbers are the sensor's, so an export written with
            ``scannet_sens.py --frame-skip 25`` (frames 0, 25, 50, ...) is used whole with ``frame_skip=25``,
            and a ``frame_skip`` that the export's stride does not divide is refused. Frames with non-numeric
            names are kept by position instead.
        color_dir, depth_dir (str): sub-folder names inside a scene.
        color_suffix, depth_suffix (str): file endings.
        pipeline (list): transforms.
        test_mode (bool): mmengine's flag.
    """

    def __init__(self,
                 data_root: str,
                 split_file: Optional[str] = None,
                 frame_skip: int = 25,
                 color_dir: str = 'color',
                 depth_dir: str = 'depth',
                 color_suffix: str = '.jpg',
                 depth_suffix: str = '.png',
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 **kwargs):
        if int(frame_skip) < 1:
            raise ValueError(f'frame_skip must be >= 1, got {frame_skip}')
        self.split_file = split_file
        self.frame_skip = int(frame_skip)
        self.color_dir, self.depth_dir = color_dir, depth_dir
        self.color_suffix, self.depth_suffix = color_suffix, depth_suffix
        # Built from mmpretrain's registry so the dataset also works outside a runner's default scope.
        pipeline = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        super().__init__(data_root=data_root, pipeline=pipeline, test_mode=test_mode,
                         lazy_init=lazy_init, serialize_data=True, **kwargs)

    def scene_ids(self) -> List[str]:
        if not osp.isdir(self.data_root):
            raise FileNotFoundError(f'data_root {self.data_root} does not exist')
        if self.split_file:
            path = self.split_file if osp.isabs(self.split_file) else osp.join(self.data_root, self.split_file)
            return read_split_file(path)
        scenes = sorted(d for d in os.listdir(self.data_root) if osp.isdir(osp.join(self.data_root, d,
                                                                                     self.color_dir)))
        if not scenes:
            raise ValueError(f'data_root {self.data_root} holds no scene folders with a "{self.color_dir}" '
                             'sub-folder')
        return scenes

    def scene_frames(self, scene: str) -> List[str]:
        """Frame stems of one scene after ``frame_skip``."""
        color_root = osp.join(self.data_root, scene, self.color_dir)
        if not osp.isdir(color_root):
            raise FileNotFoundError(f'scene {scene}: colour folder {color_root} does not exist')
        names = sorted((n for n in os.listdir(color_root) if n.endswith(self.color_suffix)), key=frame_sort_key)
        stems = [osp.splitext(n)[0] for n in names]
        if not stems or not all(stem.isdigit() for stem in stems):
            return stems[::self.frame_skip]
        # By frame number, not position: a subsampled export must not be subsampled a second time.
        numbers = [int(stem) for stem in stems]
        stride = math.gcd(*numbers) if len(numbers) > 1 else 0
        # frame_skip neither a multiple nor a divisor of the stride would keep an arbitrary subset (lcm)
        if stride > 1 and self.frame_skip % stride and stride % self.frame_skip:
            raise ValueError(f'frame_skip={self.frame_skip}: scene {scene} holds every {stride}-th frame '
                             f'({color_root}); use a multiple of {stride} (frame_skip={stride} keeps them all)')
        return [stem for stem, number in zip(stems, numbers) if number % self.frame_skip == 0]

    def load_data_list(self) -> List[dict]:
        data_list = []
        for scene in self.scene_ids():
            frames = self.scene_frames(scene)
            depth_root = osp.join(self.data_root, scene, self.depth_dir)
            available = set(os.listdir(depth_root)) if osp.isdir(depth_root) else set()
            for frame in frames:
                depth_name = frame + self.depth_suffix
                if depth_name not in available:
                    raise FileNotFoundError(
                        f'missing depth for frame {osp.join(self.data_root, scene, self.color_dir, frame)}'
                        f'{self.color_suffix}: expected {osp.join(depth_root, depth_name)}')
                data_list.append(self.frame_info(scene, frame))
        if not data_list:
            raise ValueError(f'no RGB-D frames found under {self.data_root} '
                             f'(split_file={self.split_file}, frame_skip={self.frame_skip})')
        return data_list

    def frame_info(self, scene: str, frame: str) -> dict:
        return dict(
            scene=scene,
            frame=frame,
            img_path=osp.join(self.data_root, scene, self.color_dir, frame + self.color_suffix),
            depth_path=osp.join(self.data_root, scene, self.depth_dir, frame + self.depth_suffix))

