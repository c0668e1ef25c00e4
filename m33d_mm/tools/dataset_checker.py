"""Find every problem of an RGB-D dataset on disk before a long run finds the first one.

The checker works in two steps:

1. A *lister* turns a dataset description (the ``train_dataloader.dataset`` dict of a config, or a data root)
   into samples -- plain dicts with a ``kind`` -- plus the problems visible from the file listing alone
   (empty split, missing scene, a colour frame without depth, ...). Listers are looked up by dataset type in
   :data:`DATASET_LISTERS`.
2. A *check* decodes one sample's files with the loaders training uses (:func:`read_rgb`, :func:`read_depth`,
   the video readers) and returns its problems. Checks are looked up by sample kind in :data:`SAMPLE_CHECKS`
   (:func:`register_check`); they are module-level functions so a ``multiprocessing`` pool can run them.

A new data format needs one lister and one check. Every finding is a :class:`Problem` whose ``kind`` is a key of
:data:`PROBLEM_KINDS`; ``tools/data/check_dataset.py`` is the command-line front end.
"""
import contextlib
import multiprocessing
import os
import os.path as osp
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from ..datasets.image_checks import collected
from ..datasets.label_maps import nyu40_to_nyu40_train
from ..datasets.rgbd_frames import RGBDFrameDataset
from ..datasets.rgbd_video import RGBDVideoDataset, read_video_list
from ..datasets.transforms.rgbd import RGBDDataError, read_depth, read_rgb, read_unchanged
from ..datasets.transforms.video import DEPTH_FRAME_EXTENSIONS, list_frames, open_rgb_frames, read_depth_scale

PROBLEM_KINDS: Dict[str, str] = {
    'missing_path': 'data root, split file, annotation list, scene, video or frame folder does not exist',
    'empty_split': 'the split or annotation list selects no samples',
    'missing_depth': 'colour frame without its depth map',
    'missing_color': 'depth map without its colour frame',
    'missing_label': 'frame without a label image in a scene that has a label folder',
    'unreadable': 'file cannot be read or decoded (empty, truncated, corrupt)',
    'depth_format': 'depth map is not a single-channel uint16 image (float, 8-bit or multi-channel)',
    'all_invalid_depth': 'depth map without a single valid (non-zero) reading',
    'size_mismatch': 'colour and depth differ in size',
    'label_format': 'label image is not a single-channel integer image',
    'label_out_of_range': 'label ids outside NYU40 (0..40)',
    'label_size_mismatch': 'label image differs in size from its colour frame',
    'empty_video': 'video or RGB frame folder without frames (zero-length)',
    'frame_count_mismatch': 'RGB video and depth frame folder hold different numbers of frames',
    'damaged_image': 'JPEG that decodes only with damage (bytes overwritten mid-stream; libjpeg warns)',
    'depth_saturated': 'depth map with half or more of its pixels at 65535 (saturated or a failed export)',
}


@dataclass(frozen=True)
class Problem:
    """One finding: its kind (a key of :data:`PROBLEM_KINDS`), the file or folder at fault, and a message."""
    kind: str
    path: str
    message: str

    def __post_init__(self):
        if self.kind not in PROBLEM_KINDS:
            raise ValueError(f'unknown problem kind "{self.kind}", expected one of {sorted(PROBLEM_KINDS)}')


@dataclass
class CheckResult:
    """Problems of one sample and the number of images decoded for it (files; frames of a video file)."""
    problems: List[Problem]
    files: int


SAMPLE_CHECKS: Dict[str, Callable[[dict], CheckResult]] = {}
DATASET_LISTERS: Dict[str, Callable[..., Tuple[List[dict], List[Problem]]]] = {}


def register_check(kind: str):
    """Decorator registering the check function for samples of ``kind``."""

    def register(fn):
        if kind in SAMPLE_CHECKS:
            raise KeyError(f'a check for sample kind "{kind}" is already registered')
        SAMPLE_CHECKS[kind] = fn
        return fn

    return register


def register_lister(dataset_type: str):
    """Decorator registering the lister for datasets of ``dataset_type`` (the config's ``type``)."""

    def register(fn):
        DATASET_LISTERS[dataset_type] = fn
        return fn

    return register


def check_sample(sample: dict) -> CheckResult:
    """Run the check registered for ``sample['kind']``, with what the loaders decode through as problems."""
    check = SAMPLE_CHECKS.get(sample['kind'])
    if check is None:
        raise KeyError(f'no check registered for sample kind "{sample["kind"]}", have {sorted(SAMPLE_CHECKS)}')
    with collected() as found:
        result = check(sample)
    result.problems.extend(Problem(kind, path, message) for path, (kind, message) in found.items())
    return result


# The loaders raise RGBDDataError for every defect of a file; their messages tell the defects apart. Keeping
# the mapping here, rather than subclassing the loaders' error, leaves the loaders untouched; the checker's
# tests pin each message to its kind.
# First match wins.
_MESSAGE_KINDS = (
    ('cannot decode', 'unreadable'),
    ('zero-length video', 'empty_video'),
    ('holds no frames', 'empty_video'),
    ('does not exist', 'missing_path'),
    ('expected uint16', 'depth_format'),
    ('expected a single-channel', 'depth_format'),
)


def _kind_of(err: Exception) -> str:
    text = str(err)
    return next((kind for marker, kind in _MESSAGE_KINDS if marker in text), 'unreadable')


def _loaded(problems: List[Problem], path: str, load: Callable[[str], Any]):
    try:
        return load(path)
    except RGBDDataError as err:
        problems.append(Problem(_kind_of(err), path, str(err)))
        return None


def read_label(path: str) -> np.ndarray:
    """Label image as stored (NYU40 ids expected); raises :class:`RGBDDataError` naming the file."""
    return read_unchanged(path, 'label image')


def _check_label(problems: List[Problem], path: str, image_shape) -> None:
    label = _loaded(problems, path, read_label)
    if label is None:
        return
    if label.ndim != 2 or not np.issubdtype(label.dtype, np.integer):
        channels = 1 if label.ndim == 2 else label.shape[2]
        problems.append(Problem('label_format', path, f'label image {path} is {label.dtype} with {channels} '
                                'channels, expected a single-channel integer PNG of NYU40 ids'))
        return
    try:
        nyu40_to_nyu40_train(label)
    except ValueError as err:
        problems.append(Problem('label_out_of_range', path, f'label image {path}: {err}'))
    if image_shape is not None and label.shape != tuple(image_shape):
        problems.append(Problem('label_size_mismatch', path, f'label image {path} is {label.shape} (H, W) but '
                                f'its colour frame is {tuple(image_shape)}'))


@register_check('rgbd_frame')
def check_rgbd_frame(sample: dict) -> CheckResult:
    """One ScanNet-layout frame: ``color`` path, ``depth`` path or None, ``label`` path or None.

    Reports what :class:`LoadRGBDFromFile` would refuse (undecodable files, non-uint16 or multi-channel depth,
    size mismatch, all-invalid depth) and, for labelled scenes, label problems.
    """
    problems: List[Problem] = []
    color_path, depth_path, label_path = sample['color'], sample.get('depth'), sample.get('label')
    rgb = _loaded(problems, color_path, read_rgb)
    files = 1
    depth = None
    if depth_path is not None:
        files += 1
        # The scale only converts units; whether a depth map loads does not depend on it.
        depth = _loaded(problems, depth_path, lambda p: read_depth(p, 1000.))
        if depth is not None and not (depth > 0).any():
            problems.append(Problem('all_invalid_depth', depth_path,
                                    f'depth map {depth_path} has no valid pixel (all readings are 0)'))
    if rgb is not None and depth is not None and rgb.shape[:2] != depth.shape:
        problems.append(Problem('size_mismatch', depth_path, f'size mismatch: colour {color_path} is '
                                f'{rgb.shape[:2]} (H, W) but depth {depth_path} is {depth.shape}'))
    if label_path is not None:
        if osp.isfile(label_path):
            files += 1
            _check_label(problems, label_path, rgb.shape[:2] if rgb is not None else None)
        else:
            problems.append(Problem('missing_label', color_path,
                                    f'colour frame {color_path} has no label image {label_path}'))
    return CheckResult(problems, files)


@register_check('rgbd_video')
def check_rgbd_video(sample: dict) -> CheckResult:
    """One video entry: ``rgb`` (video file or frame folder) and ``depth_dir``.

    Decodes every RGB frame and depth frame, as :class:`LoadRGBDVideoClip` would for some clip, and reports
    unreadable or zero-length videos, missing depth frames, count and size mismatches and depth format errors.
    """
    problems: List[Problem] = []
    rgb_path, depth_dir = sample['rgb'], sample['depth_dir']
    rgb = _loaded(problems, rgb_path, open_rgb_frames)
    depth_files = None
    try:
        depth_files = list_frames(depth_dir, DEPTH_FRAME_EXTENSIONS, 'depth')
    except RGBDDataError as err:
        # A folder that exists but holds no frames leaves the RGB frames without depth.
        problems.append(Problem('missing_depth' if osp.isdir(depth_dir) else 'missing_path', depth_dir, str(err)))
    if rgb is None or depth_files is None:
        return CheckResult(problems, 0)
    if len(depth_files) != len(rgb):
        problems.append(Problem('frame_count_mismatch', depth_dir,
                                f'{depth_dir} holds {len(depth_files)} depth frames but the RGB {rgb_path} has '
                                f'{len(rgb)} frames'))
    scale = _loaded(problems, depth_dir, lambda d: read_depth_scale(d, 1000.)) or 1000.
    frame_files = getattr(rgb, 'files', None)  # frame folders: one file per frame
    rgb_readable = True
    files = 0
    for index in range(min(len(rgb), len(depth_files))):
        frame = None
        if rgb_readable:
            try:
                frame = rgb.read([index])[0]
            except RGBDDataError as err:
                problems.append(Problem('unreadable', frame_files[index] if frame_files else rgb_path, str(err)))
                # A broken video stream fails for every later frame too; one report is enough.
                rgb_readable = frame_files is not None
        depth = _loaded(problems, depth_files[index], lambda p: read_depth(p, scale))
        files += 2
        if frame is not None and depth is not None and frame.shape[:2] != depth.shape:
            problems.append(Problem('size_mismatch', depth_files[index],
                                    f'depth frame {depth_files[index]} is {depth.shape} (H, W) but RGB frame '
                                    f'{index} of {rgb_path} is {frame.shape[:2]}'))
    return CheckResult(problems, files)


def _dataset_kwargs(cfg: dict) -> dict:
    # Only what locates the files: pipelines and wrappers play no part in what is on disk.
    kwargs = {k: v for k, v in cfg.items() if k not in ('type', 'pipeline', 'lazy_init')}
    return dict(kwargs, pipeline=(), lazy_init=True)


@register_lister('RGBDFrameDataset')
def list_rgbd_frames(label_dir: str = 'label', label_suffix: str = '.png', require_depth: bool = True,
                     **dataset_cfg) -> Tuple[List[dict], List[Problem]]:
    """Samples of an :class:`RGBDFrameDataset` (ScanNet export layout), read the way the dataset reads them.

    Args:
        label_dir (str): scene sub-folder of label images; scenes that have it get every frame's label checked.
        label_suffix (str): label file ending.
        require_depth (bool): False for a data root given without a config: a scene with a label folder and no
            depth folder is then a colour + label (segmentation) export, not one with missing depth.
        **dataset_cfg: :class:`RGBDFrameDataset` arguments (``data_root``, ``split_file``, ``frame_skip``, ...).

    Returns:
        tuple: ``rgbd_frame`` samples, and the problems of the listing itself.
    """
    dataset = RGBDFrameDataset(**_dataset_kwargs(dataset_cfg))
    problems: List[Problem] = []
    try:
        scenes = dataset.scene_ids()
    except FileNotFoundError as err:
        return [], [Problem('missing_path', str(dataset.split_file or dataset.data_root), str(err))]
    except ValueError as err:
        return [], [Problem('empty_split', str(dataset.split_file or dataset.data_root), str(err))]
    samples = []
    for scene in scenes:
        scene_root = osp.join(dataset.data_root, scene)
        try:
            frames = dataset.scene_frames(scene)
        except FileNotFoundError as err:
            problems.append(Problem('missing_path', scene_root, str(err)))
            continue
        color_root = osp.join(scene_root, dataset.color_dir)
        depth_root = osp.join(scene_root, dataset.depth_dir)
        label_root = osp.join(scene_root, label_dir)
        depth_names = set(os.listdir(depth_root)) if osp.isdir(depth_root) else set()
        has_labels = osp.isdir(label_root)
        colour_and_label = not require_depth and has_labels and not osp.isdir(depth_root)
        for frame in frames:
            color = osp.join(color_root, frame + dataset.color_suffix)
            depth_name = frame + dataset.depth_suffix
            depth = osp.join(depth_root, depth_name) if depth_name in depth_names else None
            if depth is None and not colour_and_label:
                problems.append(Problem('missing_depth', color, f'missing depth for frame {color}: expected '
                                        f'{osp.join(depth_root, depth_name)}'))
            samples.append(dict(kind='rgbd_frame', color=color, depth=depth,
                                label=osp.join(label_root, frame + label_suffix) if has_labels else None))
        # Every depth map without a colour frame, whatever frame_skip selects: it marks an incomplete export.
        color_stems = {osp.splitext(n)[0] for n in os.listdir(color_root) if n.endswith(dataset.color_suffix)}
        for name in sorted(depth_names):
            stem, ext = osp.splitext(name)
            if ext == dataset.depth_suffix and stem not in color_stems:
                problems.append(Problem('missing_color', osp.join(depth_root, name),
                                        f'depth map {osp.join(depth_root, name)} has no colour frame '
                                        f'{osp.join(color_root, stem + dataset.color_suffix)}'))
    if not samples and not problems:
        problems.append(Problem('empty_split', str(dataset.split_file or dataset.data_root),
                                f'no RGB-D frames found under {dataset.data_root} (split_file={dataset.split_file},'
                                f' frame_skip={dataset.frame_skip})'))
    return samples, problems


@register_lister('RGBDVideoDataset')
def list_rgbd_videos(**dataset_cfg) -> Tuple[List[dict], List[Problem]]:
    """Samples of an :class:`RGBDVideoDataset`: one ``rgbd_video`` sample per annotation line.

    Args:
        **dataset_cfg: :class:`RGBDVideoDataset` arguments (``ann_file``, ``data_root``, ``data_prefix``, ...).
    """
    dataset = RGBDVideoDataset(**_dataset_kwargs(dataset_cfg))
    try:
        entries = read_video_list(dataset.ann_file)
    except FileNotFoundError as err:
        return [], [Problem('missing_path', dataset.ann_file, str(err))]
    except ValueError as err:
        return [], [Problem('empty_split', dataset.ann_file, str(err))]
    samples = [
        dict(kind='rgbd_video', rgb=osp.join(dataset.data_prefix['rgb'], fields[0]),
             depth_dir=osp.join(dataset.data_prefix['depth'], fields[1])) for _, fields in entries
    ]
    return samples, []


# mmseg / mmaction datasets of the project: built as training builds them (their own checks run), then every
# listed file is decoded. Keys of their data infos that name files: image, label, depth map, video.
BUILT_DATASETS = {
    'ScanNetSegDataset': 'mmseg', 'ScanNetDepthDataset': 'mmseg', 'NYUv2SegDataset': 'mmseg', 'NYUDataset': 'mmseg',
    'VideoListDataset': 'mmaction', 'PhaseClipDataset': 'mmaction',
}
_BUILD_ERRORS = (('has no annotation', 'missing_label'), ('does not exist', 'missing_path'),
                 ('No such file', 'missing_path'), ('no frames', 'empty_split'), ('lists no', 'empty_split'))


def _list_built(dataset_type: str, **dataset_cfg) -> Tuple[List[dict], List[Problem]]:
    import importlib
    registry = importlib.import_module(f'{BUILT_DATASETS[dataset_type]}.registry').DATASETS
    importlib.import_module('m33d_mm.segmentation' if BUILT_DATASETS[dataset_type] == 'mmseg' else 'm33d_mm.action')
    where = str(dataset_cfg.get('ann_file') or dataset_cfg.get('split_file') or dataset_cfg.get('data_root'))
    from mmengine.registry import DefaultScope
    try:
        with DefaultScope.overwrite_default_scope(BUILT_DATASETS[dataset_type]):
            dataset = registry.build(dict(dataset_cfg, type=dataset_type, pipeline=[]))
        infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    except (OSError, ValueError) as err:
        kind = next((k for marker, k in _BUILD_ERRORS if marker in str(err)), 'missing_path')
        return [], [Problem(kind, where, f'{dataset_type}: {err}')]
    samples = []
    for info in infos:
        video = info.get('filename') or info.get('frame_dir') or info.get('rgb_path')
        if video is not None:
            samples.append(dict(kind='video', video=video))
        else:
            samples.append(dict(kind='image_sample', image=info.get('img_path'), label=info.get('seg_map_path'),
                                depth=info.get('depth_map_path')))
    if not samples:
        return [], [Problem('empty_split', where, f'{dataset_type} at {where} lists no samples')]
    return samples, []


for _type in BUILT_DATASETS:
    register_lister(_type)(lambda _type=_type, **cfg: _list_built(_type, **cfg))


@register_check('image_sample')
def check_image_sample(sample: dict) -> CheckResult:
    """An mmseg sample: ``image``, and a ``label`` (NYU40 ids) or ``depth`` (uint16 PNG) path, or None."""
    problems: List[Problem] = []
    files = 1
    rgb = _loaded(problems, sample['image'], read_rgb)
    shape = rgb.shape[:2] if rgb is not None else None
    if sample.get('label'):
        files += 1
        _check_label(problems, sample['label'], shape)
    if sample.get('depth'):
        files += 1
        depth = _loaded(problems, sample['depth'], lambda p: read_depth(p, 1000.))
        if depth is not None and not (depth > 0).any():
            problems.append(Problem('all_invalid_depth', sample['depth'],
                                    f'depth map {sample["depth"]} has no valid pixel (all readings are 0)'))
        if depth is not None and shape is not None and depth.shape != shape:
            problems.append(Problem('size_mismatch', sample['depth'], f'size mismatch: image {sample["image"]} is '
                                    f'{shape} (H, W) but depth {sample["depth"]} is {depth.shape}'))
    return CheckResult(problems, files)


@register_check('video')
def check_video(sample: dict) -> CheckResult:
    """An mmaction sample: a video file or frame folder, every frame decoded."""
    problems: List[Problem] = []
    frames = _loaded(problems, sample['video'], open_rgb_frames)
    if frames is None:
        return CheckResult(problems, 0)
    names = getattr(frames, 'files', None)
    for index in range(len(frames)):
        try:
            frames.read([index])
        except RGBDDataError as err:
            problems.append(Problem('unreadable', names[index] if names else sample['video'], str(err)))
            if names is None:  # a broken video stream fails for every later frame too
                break
    return CheckResult(problems, len(frames))


def unwrap_dataset_cfg(dataset_cfg: dict) -> dict:
    """The innermost dataset config of wrappers that hold one ``dataset`` (``RobustDataset``, ``RepeatDataset``)."""
    while 'dataset' in dataset_cfg and dataset_cfg.get('type') not in DATASET_LISTERS:
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def list_dataset(dataset_cfg: dict, **overrides) -> Tuple[List[dict], List[Problem]]:
    """Samples and listing problems of a dataset config (``dict(type=..., ...)``); ``overrides`` win.

    Wrappers with a single inner ``dataset`` (``RobustDataset``, ``RepeatDataset``, ...) are looked through.
    """
    dataset_cfg = unwrap_dataset_cfg(dataset_cfg)
    lister = DATASET_LISTERS.get(dataset_cfg.get('type'))
    if lister is None:
        raise KeyError(f'no dataset checker for type "{dataset_cfg.get("type")}", have {sorted(DATASET_LISTERS)}')
    kwargs = {k: v for k, v in dataset_cfg.items() if k != 'type'}
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    return lister(**kwargs)


def _init_worker():
    # Each pool process decodes its own files; OpenCV's own threads would only oversubscribe the cores.
    cv2.setNumThreads(1)


def run_checks(samples: Sequence[dict], workers: int = 1, progress: Optional[bool] = None,
               desc: str = 'checking') -> Tuple[List[Problem], int]:
    """Check ``samples`` (in a process pool when ``workers > 1``).

    Args:
        samples: samples from a lister.
        workers: processes; 1 checks in this process.
        progress: show a tqdm bar; None shows it only on a terminal.
        desc: label of the progress bar.

    Returns:
        tuple: problems in sample order, and the number of files decoded.
    """
    if workers < 1:
        raise ValueError(f'workers must be >= 1, got {workers}')
    problems: List[Problem] = []
    files = 0
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(tqdm(total=len(samples), unit='sample', desc=desc, dynamic_ncols=True,
                                       disable=None if progress is None else not progress))
        if workers == 1:
            results = map(check_sample, samples)
        else:
            pool = stack.enter_context(multiprocessing.Pool(workers, initializer=_init_worker))
            # Chunks amortise inter-process traffic; several per worker keep the bar moving and the load even.
            chunksize = max(1, min(64, len(samples) // (workers * 8)))
            results = pool.imap(check_sample, samples, chunksize=chunksize)
        for result in results:
            problems.extend(result.problems)
            files += result.files
            bar.update()
    return problems, files
