"""ScanNet and NYUv2 datasets for semantic segmentation and depth estimation in mmsegmentation.

Segmentation labels on disk are NYU40 ids (what the converters in ``tools/dataset_converters`` write); the
datasets tag every sample with its label space and :class:`~m33d_mm.segmentation.LoadNYU40Annotations` maps
the ids to train ids while loading. The segmentation datasets can train on a subset of their samples (the
low-data regime of the paper's Fig. 2): ``data_fraction`` draws a deterministic random subset, or
``split_subset_file`` lists the samples to keep.
"""
import os
import os.path as osp
from typing import List, Optional

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ..datasets.label_maps import NYU40_CLASSES, SCANNET20_CLASSES
from ..datasets.lists import frame_sort_key, read_split_file
from ..datasets.robust import RobustDataset
from ..datasets.subsets import select_subset

# Configs in mmseg's scope wrap their datasets in the same skip-and-log wrapper as pre-training.
DATASETS.register_module(module=RobustDataset)


class _SubsetSegDataset(BaseSegDataset):
    """``BaseSegDataset`` with the low-data options; subclasses implement :meth:`list_samples`."""

    def __init__(self, data_fraction: float = 1.0, data_seed: int = 0, split_subset_file: Optional[str] = None,
                 **kwargs):
        self.data_fraction = float(data_fraction)
        self.data_seed = data_seed
        self.split_subset_file = split_subset_file
        super().__init__(**kwargs)

    def _root_path(self, path: str) -> str:
        return path if osp.isabs(path) or not self.data_root else osp.join(self.data_root, path)

    def list_samples(self) -> List[dict]:
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        data_list = self.list_samples()
        subset_file = self._root_path(self.split_subset_file) if self.split_subset_file else None
        data_list = select_subset(data_list, self.data_fraction, self.data_seed, subset_file)
        for info in data_list:
            info.update(label_map=self.label_map, reduce_zero_label=self.reduce_zero_label, seg_fields=[])
        return data_list


class _ScanNetFramesDataset(_SubsetSegDataset):
    """Frames of a ScanNet export, ``<data_root>/<scene>/color/<frame>.jpg`` plus one annotation per frame.

    Args:
        data_root (str): folder with one sub-folder per scene.
        split_file (str, optional): scene ids, one per line (relative to ``data_root`` unless absolute); None
            takes every sub-folder that has a ``color`` folder.
        img_dir, ann_dir (str): sub-folders of a scene.
        img_suffix, ann_suffix (str): file endings.
        **kwargs: ``data_fraction``, ``data_seed``, ``split_subset_file`` (ids ``<scene>/<frame>``) and the
            arguments of mmseg's ``BaseSegDataset``.
    """
    ANN_KEY = ''

    def __init__(self, data_root: str, split_file: Optional[str] = None, img_dir: str = 'color',
                 ann_dir: str = 'label', img_suffix: str = '.jpg', ann_suffix: str = '.png', **kwargs):
        self.split_file = split_file
        self.img_dir, self.ann_dir = img_dir, ann_dir
        self.ann_suffix = ann_suffix
        super().__init__(data_root=data_root, img_suffix=img_suffix, seg_map_suffix=ann_suffix, **kwargs)

    def scene_ids(self) -> List[str]:
        if not osp.isdir(self.data_root):
            raise FileNotFoundError(f'data_root {self.data_root} does not exist')
        if self.split_file:
            return read_split_file(self._root_path(self.split_file))
        scenes = sorted(d for d in os.listdir(self.data_root) if osp.isdir(osp.join(self.data_root, d, self.img_dir)))
        if not scenes:
            raise ValueError(f'data_root {self.data_root} holds no scene folders with a "{self.img_dir}" '
                             'sub-folder')
        return scenes

    def list_samples(self) -> List[dict]:
        data_list = []
        for scene in self.scene_ids():
            img_root = osp.join(self.data_root, scene, self.img_dir)
            ann_root = osp.join(self.data_root, scene, self.ann_dir)
            if not osp.isdir(img_root):
                raise FileNotFoundError(f'scene {scene}: image folder {img_root} does not exist')
            available = set(os.listdir(ann_root)) if osp.isdir(ann_root) else set()
            names = sorted((n for n in os.listdir(img_root) if n.endswith(self.img_suffix)), key=frame_sort_key)
            for name in names:
                frame = name[:-len(self.img_suffix)]
                if frame + self.ann_suffix not in available:
                    raise FileNotFoundError(f'{osp.join(img_root, name)} has no annotation: expected '
                                            f'{osp.join(ann_root, frame + self.ann_suffix)}')
                data_list.append({
                    'sample_id': f'{scene}/{frame}',
                    'img_path': osp.join(img_root, name),
                    self.ANN_KEY: osp.join(ann_root, frame + self.ann_suffix),
                })
        if not data_list:
            raise ValueError(f'no frames found under {self.data_root} (split_file={self.split_file})')
        return data_list


@DATASETS.register_module()
class ScanNetSegDataset(_ScanNetFramesDataset):
    """ScanNet 2-D semantic segmentation, 20 benchmark classes (the ``scannet_frames_25k`` layout).

    ``<data_root>/<scene>/color/<frame>.jpg`` with ``<data_root>/<scene>/label/<frame>.png`` holding NYU40 ids
    of the same size; the ids become the 20 ScanNet classes (Pri3D's mapping, everything else ignored) in
    :class:`~m33d_mm.segmentation.LoadNYU40Annotations`. The synthetic scenes of
    ``tools/data/generate_synthetic_rgbd.py`` have this layout too. Pipelines load labels with
    ``dict(type='LoadNYU40Annotations')``.

    Args: see ``_ScanNetFramesDataset``; the official split files are ``scannetv2_train.txt`` /
    ``scannetv2_val.txt``.
    """
    METAINFO = dict(classes=SCANNET20_CLASSES)
    ANN_KEY = 'seg_map_path'

    def list_samples(self) -> List[dict]:
        return [dict(info, label_space='scannet20') for info in super().list_samples()]


@DATASETS.register_module()
class ScanNetDepthDataset(_ScanNetFramesDataset):
    """Depth estimation on a ScanNet export: ``<scene>/color/<frame>.jpg`` and ``<scene>/depth/<frame>.png``.

    Depth PNGs are uint16 millimetres (0 = missing); load them with
    ``dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3)``. Colour and depth must have the same size
    (``tools/dataset_converters/scannet_sens.py --resize`` writes both at one size).
    """
    METAINFO = dict(classes=('depth', ))
    ANN_KEY = 'depth_map_path'

    def __init__(self, data_root: str, ann_dir: str = 'depth', **kwargs):
        super().__init__(data_root=data_root, ann_dir=ann_dir, **kwargs)


@DATASETS.register_module()
class NYUv2SegDataset(_SubsetSegDataset):
    """NYUv2 semantic segmentation, 40 classes, as written by ``tools/dataset_converters/nyuv2.py``.

    ``<data_root>/<split>.txt`` lists the sample stems (795 train / 654 test); images are
    ``<data_root>/<split>/rgb/<stem><img_suffix>`` and labels ``<data_root>/<split>/label/<stem>.png`` (NYU40
    ids, 0 = unlabelled -> ignored). Depth estimation on the same files uses mmseg's ``NYUDataset`` with
    ``data_prefix=dict(img_path='<split>/rgb', depth_map_path='<split>/depth')``.

    Args:
        data_root (str): converter output folder.
        split (str): 'train' or 'test'.
        img_suffix (str): '.png' or '.jpg' (the converter's ``--rgb-format``).
        **kwargs: ``data_fraction``, ``data_seed``, ``split_subset_file`` (ids are stems) and the arguments
            of mmseg's ``BaseSegDataset``.
    """
    METAINFO = dict(classes=NYU40_CLASSES)

    def __init__(self, data_root: str, split: str = 'train', img_suffix: str = '.png', **kwargs):
        self.split = split
        super().__init__(data_root=data_root, img_suffix=img_suffix, seg_map_suffix='.png', **kwargs)

    def list_samples(self) -> List[dict]:
        stems = read_split_file(self._root_path(f'{self.split}.txt'))
        data_list = []
        for stem in stems:
            info = dict(sample_id=stem, label_space='nyu40',
                        img_path=self._root_path(osp.join(self.split, 'rgb', stem + self.img_suffix)),
                        seg_map_path=self._root_path(osp.join(self.split, 'label', stem + '.png')))
            for key in ('img_path', 'seg_map_path'):
                if not osp.isfile(info[key]):
                    raise FileNotFoundError(f'sample {stem} of {self.split}.txt: {info[key]} does not exist')
            data_list.append(info)
        return data_list
