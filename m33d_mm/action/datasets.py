"""RGB video datasets for fine-tuning in mmaction2: labelled video lists, and long videos with phase segments.

Both give mmaction2's sample keys, so the stock decoding pipeline applies: ``filename`` for a video file
(``DecordInit`` / ``DecordDecode``), or ``frame_dir``, ``filename_tmpl``, ``offset`` and ``total_frames`` for a
folder of frames (``RawFrameDecode``); ``label`` is a class index, or a list of indices that mmaction2 turns into
a multi-hot vector when ``multi_class=True``. Fine-tuning is RGB only: depth folders in the lists are ignored.
"""
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmaction.datasets import BaseActionDataset
from mmaction.registry import DATASETS

from ..datasets.lists import read_list_lines
from ..datasets.rgbd_video import parse_label, read_phase_segments
from ..datasets.robust import RobustDataset
from ..datasets.subsets import select_subset
from ..datasets.transforms.video import RGB_FRAME_EXTENSIONS, VIDEO_EXTENSIONS, list_frames

VIDEO_LIST_FORMAT = '<video file or frame folder> [<depth frame folder>] <label>'

# Configs in mmaction2's scope wrap their datasets in the same skip-and-log wrapper as pre-training.
DATASETS.register_module(module=RobustDataset)


def inspect_frame_folder(folder: str) -> dict:
    """Frame count and file-name template of a folder of RGB frames, for ``RawFrameDecode``.

    Frames must be numbered contiguously with numeric stems, zero-padded to one width (``000000.jpg``,
    ``000001.jpg``, ...) or unpadded (``0.jpg`` ... ``10.jpg``), from any first index.

    Returns:
        dict: ``total_frames``, ``filename_tmpl`` (e.g. ``'{:06d}.jpg'``) and ``offset`` (the first index).

    Raises:
        ValueError: naming the folder, when it holds no frames or they are not numbered that way.
    """
    names = [osp.basename(p) for p in list_frames(folder, RGB_FRAME_EXTENSIONS, 'RGB')]
    stem, ext = osp.splitext(names[0])
    if not stem.isdigit():
        raise ValueError(f'RGB frame folder {folder}: frame files must have numeric names (000000.jpg, ...), '
                         f'found "{names[0]}"')
    offset = int(stem)
    for tmpl in (f'{{:0{len(stem)}d}}{ext}', f'{{:d}}{ext}'):
        if all(name == tmpl.format(offset + i) for i, name in enumerate(names)):
            return dict(total_frames=len(names), filename_tmpl=tmpl, offset=offset)
    raise ValueError(f'RGB frame folder {folder}: expected {len(names)} frames numbered contiguously from '
                     f'"{names[0]}" with one extension and zero-padding, found "{names[0]}" ... "{names[-1]}"')


def video_source(path: str, where: str) -> dict:
    """mmaction2 sample keys for a video file or a frame folder; ``where`` (file:line) prefixes errors."""
    if path.lower().endswith(VIDEO_EXTENSIONS):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{where}: video file {path} does not exist')
        return dict(filename=path)
    if not osp.isdir(path):
        raise FileNotFoundError(f'{where}: {path} is neither a video file ({", ".join(VIDEO_EXTENSIONS)}) nor a '
                                'folder of frames')
    return dict(frame_dir=path, **inspect_frame_folder(path))


def video_prefix(data_prefix: Optional[dict]) -> dict:
    prefix = dict(video='')
    unknown = sorted(set(data_prefix or {}) - set(prefix))
    if unknown:
        raise KeyError(f'data_prefix: unknown keys {unknown}, expected "video"')
    prefix.update(data_prefix or {})
    return prefix


def check_label_range(labels: Sequence[int], num_classes: int, where: str) -> None:
    bad = [c for c in labels if not 0 <= c < num_classes]
    if bad:
        raise ValueError(f'{where}: class id {bad[0]} is outside [0, {num_classes}) (num_classes={num_classes})')


@DATASETS.register_module()
class VideoListDataset(BaseActionDataset):
    """Labelled RGB videos (files or frame folders) listed in a text file, checked when the dataset is built.

    One video per line, fields separated by whitespace (blank lines and ``#`` comments skipped)::

        <video file or frame folder> <label>                       # mmaction2's VideoDataset lists
        <video file or frame folder> <depth frame folder> <label>  # the RGB-D lists of video pre-training

    The label is a class index or comma-separated indices (``0,4``; ``multi_class=True``). Paths are relative
    to ``data_prefix['video']``. Video files are decoded with ``DecordInit`` / ``DecordDecode``, frame folders
    (numbered frames, see :func:`inspect_frame_folder`) with ``RawFrameDecode``; one list should hold one kind.
    Unlike mmaction2's ``VideoDataset``, a malformed line, a missing video or a class id outside
    ``[0, num_classes)`` is an error naming ``file:line`` when the dataset is built, not a crash mid-epoch.

    Args:
        ann_file (str): the list, relative to ``data_root`` unless absolute.
        pipeline (list): transforms.
        num_classes (int): number of classes (labels are checked against it).
        data_prefix (dict): ``video``: folder the list's paths are relative to.
        multi_class (bool): multi-label samples (multi-hot labels).
        **kwargs: :class:`BaseActionDataset` / mmengine ``BaseDataset`` arguments (``data_root``,
            ``test_mode``, ...).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: Sequence,
                 num_classes: int,
                 data_prefix: Optional[dict] = None,
                 multi_class: bool = False,
                 **kwargs) -> None:
        if int(num_classes) < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        super().__init__(ann_file, pipeline=list(pipeline), data_prefix=video_prefix(data_prefix),
                         multi_class=multi_class, num_classes=int(num_classes), **kwargs)

    def load_data_list(self) -> List[dict]:
        data_list = []
        for entry in read_list_lines(self.ann_file, 'annotation list'):
            fields, where = entry.fields, entry.where
            if len(fields) not in (2, 3):
                raise ValueError(f'{where}: expected 2 or 3 whitespace-separated fields ({VIDEO_LIST_FORMAT}), '
                                 f'got {len(fields)}: "{entry.text}"')
            label = parse_label(fields[-1], where)
            labels = label if isinstance(label, list) else [label]
            if isinstance(label, list) and not self.multi_class:
                raise ValueError(f'{where}: several labels "{fields[-1]}" in a single-label dataset (set '
                                 'multi_class=True for multi-label lists)')
            check_label_range(labels, self.num_classes, where)
            info = video_source(osp.join(self.data_prefix['video'], fields[0]), where)
            data_list.append(dict(info, label=labels if self.multi_class else label))
        if not data_list:
            raise ValueError(f'annotation list {self.ann_file} is empty (expected lines "{VIDEO_LIST_FORMAT}")')
        return data_list


def select_labelled_videos(video_ids: Sequence[str], fraction: float, seed: int = 0) -> List[str]:
    """The videos whose labels a label budget keeps: ``round(fraction * len(video_ids))`` of them, at least one.

    The subset is the head of a permutation seeded by ``seed``, so for one seed and one video list the budgets
    are nested (the 5 % videos are among the 10 % ones, and so on). Order of ``video_ids`` is kept.
    """
    kept = select_subset([dict(sample_id=v) for v in video_ids], fraction, seed)
    return [info['sample_id'] for info in kept]


def _merge(intervals: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    merged: List[Tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def phase_windows(segments: Sequence[Tuple[int, int, int]], window_len: Optional[int] = None,
                  min_overlap: float = 0.5) -> List[Tuple[int, int, List[int]]]:
    """Samples of one video: its labelled segments, cut into windows, with multi-hot phase labels.

    Args:
        segments: ``(start, end, phase)`` frame ranges (end exclusive), possibly overlapping.
        window_len: segments longer than this are cut into ``ceil(length / window_len)`` consecutive windows of
            (nearly) equal length, so that long phases give several samples; None keeps whole segments.
        min_overlap: a phase is a label of a window when its segments cover at least this fraction of the
            window's frames (the window's own phase covers all of them).

    Returns:
        list: ``(start, end, phases)`` per window, ``phases`` sorted.
    """
    if window_len is not None and window_len < 1:
        raise ValueError(f'window_len must be >= 1 or None, got {window_len}')
    if not 0.0 < min_overlap <= 1.0:
        raise ValueError(f'min_overlap must be in (0, 1], got {min_overlap}')
    covered: Dict[int, List[Tuple[int, int]]] = {}
    for start, end, phase in segments:
        covered.setdefault(phase, []).append((start, end))
    covered = {phase: _merge(intervals) for phase, intervals in covered.items()}
    windows = []
    for start, end, phase in segments:
        pieces = 1 if window_len is None else math.ceil((end - start) / window_len)
        bounds = [start + (end - start) * k // pieces for k in range(pieces + 1)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            labels = {phase}
            for other, intervals in covered.items():
                overlap = sum(max(0, min(e, b) - max(s, a)) for s, e in intervals)
                if overlap >= min_overlap * (b - a):
                    labels.add(other)
            windows.append((a, b, sorted(labels)))
    return windows


@DATASETS.register_module()
class PhaseClipDataset(BaseActionDataset):
    """Clips of long videos labelled with the phases (multi-hot) of the segment they come from (OR-AR layout).

    Files (``docs/video.md``, OR-AR layout; ``docs/finetune_video.md``)::

        <data_root>/videos/<video_id>/rgb/000000.jpg ...   or  videos/<video_id>/rgb.mp4 (rgb_template)
        <data_root>/annotations/phase_segments.txt         "<video_id> <start_frame> <end_frame> <phase>"
        <data_root>/annotations/phase_train.txt            the split: one <video_id> per line

    Each labelled segment of a listed video (cut into windows of at most ``window_len`` frames) is one sample;
    its label holds the segment's phase and every other phase covering at least ``min_overlap`` of the window
    (:func:`phase_windows`). :class:`~m33d_mm.action.SampleWindowClips` samples clips centred in the window.

    Label budget (low-data regime): ``label_fraction < 1`` keeps the segments of only that fraction of the
    listed videos -- whole videos are labelled or not, as when a few recordings are annotated completely --
    chosen by ``label_seed`` (:func:`select_labelled_videos`: deterministic, nested across budgets). Set it on
    the training dataset only.

    Args:
        ann_file (str): split list (video ids), relative to ``data_root`` unless absolute.
        segment_file (str): phase segments, relative to ``data_root`` unless absolute.
        num_classes (int): number of phases (9 in OR-AR); larger phase ids are an error.
        pipeline (list): transforms; ``SampleWindowClips`` picks the frames.
        data_prefix (dict): ``video``: folder ``rgb_template`` is relative to.
        rgb_template (str): RGB path of a video, ``{video_id}`` replaced: a frame folder or a video file.
        window_len (int, optional): longest window in frames (None: whole segments).
        min_overlap (float): coverage at which another phase joins a window's label.
        label_fraction (float): label budget, fraction of the listed videos in ``(0, 1]``.
        label_seed (int): seed of the budget's video choice.
        **kwargs: :class:`BaseActionDataset` / mmengine ``BaseDataset`` arguments.
    """

    def __init__(self,
                 ann_file: str,
                 segment_file: str,
                 num_classes: int,
                 pipeline: Sequence,
                 data_prefix: Optional[dict] = None,
                 rgb_template: str = '{video_id}/rgb',
                 window_len: Optional[int] = None,
                 min_overlap: float = 0.5,
                 label_fraction: float = 1.0,
                 label_seed: int = 0,
                 **kwargs) -> None:
        self.segment_file = segment_file
        self.rgb_template = rgb_template
        self.window_len = window_len
        self.min_overlap = min_overlap
        self.label_fraction = label_fraction
        self.label_seed = label_seed
        super().__init__(ann_file, pipeline=list(pipeline), data_prefix=video_prefix(data_prefix),
                         multi_class=True, num_classes=int(num_classes), **kwargs)

    def _read_video_ids(self) -> List[Tuple[str, str]]:
        ids, seen = [], {}
        for entry in read_list_lines(self.ann_file, 'video split list'):
            video = entry.text
            if len(entry.fields) != 1:
                raise ValueError(f'{entry.where}: expected one video id per line, got "{video}"')
            if video in seen:
                raise ValueError(f'{entry.where}: video {video} is listed twice (first at line {seen[video]})')
            seen[video] = entry.number
            ids.append((video, entry.where))
        if not ids:
            raise ValueError(f'video split list {self.ann_file} lists no videos')
        return ids

    def load_data_list(self) -> List[dict]:
        segment_file = self.segment_file
        if self.data_root and not osp.isabs(segment_file):
            segment_file = osp.join(self.data_root, segment_file)
        segments = read_phase_segments(segment_file, self.num_classes)
        videos = self._read_video_ids()
        unlabelled = [vid for vid, _ in videos if vid not in segments]
        if unlabelled:
            raise ValueError(f'{self.ann_file} lists {len(unlabelled)} videos without segments in {segment_file}, '
                             f'e.g. {unlabelled[:3]}')
        keep = set(select_labelled_videos([vid for vid, _ in videos], self.label_fraction, self.label_seed))
        data_list = []
        for vid, where in videos:
            if vid not in keep:
                continue
            source = video_source(osp.join(self.data_prefix['video'], self.rgb_template.format(video_id=vid)), where)
            last = max(end for _, end, _ in segments[vid])
            if 'total_frames' in source and last > source['total_frames']:
                raise ValueError(f'{segment_file}: video {vid} has a segment ending at frame {last}, but '
                                 f'{source["frame_dir"]} holds {source["total_frames"]} frames')
            for start, end, labels in phase_windows(segments[vid], self.window_len, self.min_overlap):
                data_list.append(dict(source, video_id=vid, window=(start, end), label=labels))
        return data_list
