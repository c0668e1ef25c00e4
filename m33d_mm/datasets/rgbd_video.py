"""RGB-D video clips listed in an annotation file, in mmaction2's list-file conventions.

Annotation list (``ann_file``), one video per line, fields separated by whitespace::

    <rgb> <depth_dir> [<label>]

* ``<rgb>``: an RGB video file (decoded with decord: .mp4, .avi, ...) or a folder of RGB frames
  (``.jpg``/``.jpeg``/``.png``/``.bmp``, sorted by their numeric file stem), relative to ``data_prefix['rgb']``
  unless absolute.
* ``<depth_dir>``: a folder with one single-channel uint16 PNG per RGB frame (same count, same size, same
  order), relative to ``data_prefix['depth']`` unless absolute. Values are raw units of
  ``1 / depth_scale`` metres, 0 = no reading; ``depth_scale`` is 1000 (millimetres) unless the folder has a
  ``depth_meta.json`` with a ``depth_scale`` entry (written by ``tools/data/extract_depth.py``).
* ``<label>`` (optional): a class index, or comma-separated class indices (no spaces) for multi-label clips,
  e.g. ``3`` or ``0,4``. Pre-training ignores it; it is packed as ``gt_label`` when present.

Paths cannot contain whitespace. Blank lines and lines starting with ``#`` are skipped.

Long videos with per-segment labels (the OR-AR layout, see ``docs/video.md``) use the same list without the
label field and describe their phases in a separate segment file, read by :func:`read_phase_segments`.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.dataset import BaseDataset
from mmpretrain.registry import DATASETS

from .lists import read_list_lines
from .transforms.video import VIDEO_EXTENSIONS

ANNOTATION_FORMAT = '<rgb video file or frame folder> <depth frame folder> [<label>]'


def parse_label(text: str, where: str) -> Union[int, List[int]]:
    """``'3'`` -> 3, ``'0,4'`` -> [0, 4]; errors name ``where`` (file and line)."""
    parts = text.split(',')
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f'{where}: label "{text}" is not a class index or comma-separated class indices '
                         '(e.g. 3 or 0,4)') from None
    if any(v < 0 for v in values):
        raise ValueError(f'{where}: label "{text}" has a negative class index')
    return values[0] if len(parts) == 1 else values


def read_video_list(ann_file: str) -> List[Tuple[int, List[str]]]:
    """Non-empty, non-comment lines of an annotation list as ``(line number, fields)``.

    Raises:
        FileNotFoundError: ``ann_file`` does not exist.
        ValueError: a line does not have 2 or 3 fields, or the list has no entries.
    """
    entries = []
    for entry in read_list_lines(ann_file, 'annotation list'):
        fields = entry.fields
        if len(fields) not in (2, 3):
            raise ValueError(f'{entry.where}: expected 2 or 3 whitespace-separated fields ({ANNOTATION_FORMAT}), '
                             f'got {len(fields)}: "{entry.text}"')
        entries.append((entry.number, fields))
    if not entries:
        raise ValueError(f'annotation list {ann_file} is empty (expected lines "{ANNOTATION_FORMAT}")')
    return entries


def read_phase_segments(path: str, num_classes: Optional[int] = None) -> Dict[str, List[Tuple[int, int, int]]]:
    """Per-segment labels of long videos (the OR-AR layout).

    One segment per line, whitespace-separated: ``<video_id> <start_frame> <end_frame> <phase>`` with 0-based
    frame indices into the video's RGB frames, ``start`` inclusive and ``end`` exclusive. Segments of one
    video may overlap (several phases at once) and need not cover every frame (unlabelled frames).

    Args:
        path (str): the segment file.
        num_classes (int, optional): number of phases; larger phase ids are an error.

    Returns:
        dict: video id -> list of ``(start, end, phase)`` sorted by start.
    """
    segments: Dict[str, List[Tuple[int, int, int]]] = {}
    for entry in read_list_lines(path, 'phase segment file'):
        fields, where = entry.fields, entry.where
        if len(fields) != 4:
            raise ValueError(f'{where}: expected 4 fields (<video_id> <start_frame> <end_frame> <phase>), '
                             f'got {len(fields)}: "{entry.text}"')
        try:
            start, end, phase = (int(v) for v in fields[1:])
        except ValueError:
            raise ValueError(f'{where}: start, end and phase must be integers: "{entry.text}"') from None
        if not 0 <= start < end:
            raise ValueError(f'{where}: need 0 <= start < end, got start={start}, end={end}')
        if phase < 0 or (num_classes is not None and phase >= num_classes):
            raise ValueError(f'{where}: phase {phase} is outside [0, {num_classes})')
        segments.setdefault(fields[0], []).append((start, end, phase))
    if not segments:
        raise ValueError(f'phase segment file {path} lists no segments')
    return {vid: sorted(segs) for vid, segs in segments.items()}


@DATASETS.register_module()
class RGBDVideoDataset(BaseDataset):
    """RGB-D video clips for pre-training (and, with labels, for recognition).

    Each entry of the annotation list (format in the module docstring) is one video; the pipeline
    (:class:`~m33d_mm.datasets.transforms.video.LoadRGBDVideoClip` first) samples a clip from it.
    ``load_data_list`` checks the list's format and that every listed file and folder exists; frame counts and
    sizes are checked when a clip is loaded.

    Args:
        ann_file (str): annotation list, relative to ``data_root`` unless absolute.
        pipeline (list): transforms.
        data_root (str): prepended to ``ann_file`` and ``data_prefix``.
        data_prefix (dict): ``rgb`` and ``depth`` folders the list's paths are relative to.
        clips_per_video (int): entries per video per epoch, each sampling its own clip; for long videos
            (OR-AR) where one clip per video and epoch covers little of the data.
        test_mode (bool): mmengine's flag.
        metainfo (dict, optional): e.g. ``dict(classes=(...))``.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: Sequence = (),
                 data_root: str = '',
                 data_prefix: Optional[dict] = None,
                 clips_per_video: int = 1,
                 test_mode: bool = False,
                 metainfo: Optional[dict] = None,
                 lazy_init: bool = False,
                 **kwargs):
        if int(clips_per_video) < 1:
            raise ValueError(f'clips_per_video must be >= 1, got {clips_per_video}')
        prefix = dict(rgb='', depth='')
        unknown = set(data_prefix or {}) - set(prefix)
        if unknown:
            raise KeyError(f'data_prefix: unknown keys {sorted(unknown)}, expected "rgb" and "depth"')
        prefix.update(data_prefix or {})
        self.clips_per_video = int(clips_per_video)
        super().__init__(ann_file=ann_file, metainfo=metainfo, data_root=data_root, data_prefix=prefix,
                         pipeline=list(pipeline), test_mode=test_mode, lazy_init=lazy_init, **kwargs)

    def load_data_list(self) -> List[dict]:
        data_list = []
        for number, fields in read_video_list(self.ann_file):
            where = f'{self.ann_file}:{number}'
            rgb_path = osp.join(self.data_prefix['rgb'], fields[0])
            depth_dir = osp.join(self.data_prefix['depth'], fields[1])
            if not osp.exists(rgb_path):
                raise FileNotFoundError(f'{where}: RGB video or frame folder {rgb_path} does not exist')
            if not osp.isdir(depth_dir):
                raise FileNotFoundError(f'{where}: depth frame folder {depth_dir} does not exist')
            stem, ext = osp.splitext(fields[0].rstrip('/'))
            video_id = stem if ext.lower() in VIDEO_EXTENSIONS else fields[0].rstrip('/')
            info = dict(rgb_path=rgb_path, depth_dir=depth_dir, video_id=video_id)
            if len(fields) == 3:
                info['gt_label'] = parse_label(fields[2], where)
            data_list.extend(dict(info) for _ in range(self.clips_per_video))
        return data_list
