"""Reader and exporter for ScanNet ``.sens`` (SensorData) files.

Binary layout (little-endian, version 4)::

    header:  uint32 version | uint64 name_len, name bytes
             4 x float32[16] (intrinsic_color, extrinsic_color, intrinsic_depth, extrinsic_depth; row-major)
             int32 color_compression | int32 depth_compression
             uint32 color_width, color_height, depth_width, depth_height
             float32 depth_shift | uint64 num_frames
    frame:   float32[16] camera_to_world | uint64 timestamp_color, timestamp_depth
             uint64 color_bytes, depth_bytes | color data | depth data
    (IMU data may follow the frames; it is ignored.)

Export layout, as read by the ScanNet RGB-D dataset::

    <out_dir>/color/<idx:06d>.jpg   RGB frames
    <out_dir>/depth/<idx:06d>.png   uint16 depth in millimetres, 0 = invalid
    <out_dir>/pose/<idx:06d>.txt    4x4 camera-to-world matrix
    <out_dir>/intrinsic.txt         4x4 depth intrinsics (scaled to ``resize`` when given)
    <out_dir>/export.json           the export's settings (frame_skip, resize) and whether it is complete

Frames keep their index in the ``.sens`` file as their name, so ``RGBDFrameDataset(frame_skip=25)`` uses an
export written with ``--frame-skip 25`` whole. An interrupted run resumes when started again with the same
arguments: complete scenes are skipped, and the frames already written of a partial scene are kept (each file
is written under a temporary name and renamed, so none is ever half-written).

Usage::

    python tools/dataset_converters/scannet_sens.py SCANS_DIR OUT_ROOT --frame-skip 25 --resize 240 320 --workers 2
    python tools/dataset_converters/scannet_sens.py scans/scene0000_00/scene0000_00.sens OUT_ROOT
"""
import argparse
import json
import math
import os
import struct
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterator, List, NamedTuple, Optional, Tuple, Union

import cv2
import numpy as np
from tqdm import tqdm

PathLike = Union[str, os.PathLike]

SENS_VERSION = 4
COLOR_COMPRESSION = {-1: 'unknown', 0: 'raw', 1: 'png', 2: 'jpeg'}
DEPTH_COMPRESSION = {-1: 'unknown', 0: 'raw_ushort', 1: 'zlib_ushort', 2: 'occi_ushort'}
SUPPORTED_COLOR = ('raw', 'png', 'jpeg')
SUPPORTED_DEPTH = ('raw_ushort', 'zlib_ushort')

# Sanity bounds that catch a wrong file type or a corrupt header before a huge allocation is attempted; the real
# sensors are 1296x968 (colour) and 640x480 (depth) with sensor names of a few bytes.
_MAX_NAME_LEN = 4096
_MAX_SIDE = 16384

_FIXED_HEADER = struct.Struct('<64f2i4IfQ')
_FRAME_HEADER = struct.Struct('<16f4Q')


class SensFormatError(ValueError):
    """A ``.sens`` file is malformed, truncated or uses an unsupported encoding."""


@dataclass(frozen=True)
class SensHeader:
    """Parsed ``.sens`` header.

    Attributes:
        path: The file this header was read from.
        version: Format version (always 4).
        sensor_name: Sensor description, e.g. ``'StructureSensor'``.
        intrinsic_color: (4, 4) float64 colour camera intrinsics.
        extrinsic_color: (4, 4) float64 colour camera extrinsics.
        intrinsic_depth: (4, 4) float64 depth camera intrinsics.
        extrinsic_depth: (4, 4) float64 depth camera extrinsics.
        color_compression: One of ``COLOR_COMPRESSION`` values.
        depth_compression: One of ``DEPTH_COMPRESSION`` values.
        color_width: Colour frame width in pixels.
        color_height: Colour frame height in pixels.
        depth_width: Depth frame width in pixels.
        depth_height: Depth frame height in pixels.
        depth_shift: Raw depth units per metre (1000 = millimetres).
        num_frames: Number of frames declared by the header.
        frames_offset: Byte offset of the first frame.
    """
    path: str
    version: int
    sensor_name: str
    intrinsic_color: np.ndarray
    extrinsic_color: np.ndarray
    intrinsic_depth: np.ndarray
    extrinsic_depth: np.ndarray
    color_compression: str
    depth_compression: str
    color_width: int
    color_height: int
    depth_width: int
    depth_height: int
    depth_shift: float
    num_frames: int
    frames_offset: int


class SensFrame(NamedTuple):
    """One decoded frame.

    Attributes:
        index: 0-based frame index in the file.
        pose: (4, 4) float64 camera-to-world matrix (ScanNet marks lost tracking with ``-inf`` entries).
        color: (color_height, color_width, 3) uint8 RGB image.
        depth: (depth_height, depth_width) uint16 depth in units of ``1 / depth_shift`` metres, 0 = invalid.
    """
    index: int
    pose: np.ndarray
    color: np.ndarray
    depth: np.ndarray


def _read_exact(f, n: int, path: PathLike, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise SensFormatError(f'{path}: truncated {what} (expected {n} bytes, file has {len(data)} left)')
    return data


def _parse_header(f, path: PathLike, file_size: int) -> SensHeader:
    version, = struct.unpack('<I', _read_exact(f, 4, path, 'header'))
    if version != SENS_VERSION:
        raise SensFormatError(f'{path}: unsupported .sens version {version} (expected {SENS_VERSION}); '
                              'is this a ScanNet .sens file?')
    name_len, = struct.unpack('<Q', _read_exact(f, 8, path, 'header'))
    if name_len > _MAX_NAME_LEN:
        raise SensFormatError(f'{path}: implausible sensor name length {name_len}; corrupt header?')
    name = _read_exact(f, name_len, path, 'header').decode('utf-8', errors='replace')
    values = _FIXED_HEADER.unpack(_read_exact(f, _FIXED_HEADER.size, path, 'header'))
    mats = [np.asarray(values[i * 16:(i + 1) * 16], dtype=np.float64).reshape(4, 4) for i in range(4)]
    color_code, depth_code, cw, ch, dw, dh, depth_shift, num_frames = values[64:]

    if color_code not in COLOR_COMPRESSION or depth_code not in DEPTH_COMPRESSION:
        raise SensFormatError(f'{path}: unknown compression type (color={color_code}, depth={depth_code})')
    color_compression = COLOR_COMPRESSION[color_code]
    depth_compression = DEPTH_COMPRESSION[depth_code]
    if color_compression not in SUPPORTED_COLOR:
        raise SensFormatError(f'{path}: unsupported color compression {color_compression!r} '
                              f'(supported: {", ".join(SUPPORTED_COLOR)})')
    if depth_compression not in SUPPORTED_DEPTH:
        raise SensFormatError(f'{path}: unsupported depth compression {depth_compression!r} '
                              f'(supported: {", ".join(SUPPORTED_DEPTH)})')
    for label, side in (('color_width', cw), ('color_height', ch), ('depth_width', dw), ('depth_height', dh)):
        if not 0 < side <= _MAX_SIDE:
            raise SensFormatError(f'{path}: implausible {label} {side}; corrupt header?')
    if not (math.isfinite(depth_shift) and depth_shift > 0):
        raise SensFormatError(f'{path}: implausible depth_shift {depth_shift}; corrupt header?')
    frames_offset = f.tell()
    # Every frame carries at least its fixed header, so a count the file cannot hold means a corrupt header or a
    # file cut short; report it now instead of after decoding most of a huge file.
    if num_frames * _FRAME_HEADER.size > file_size - frames_offset:
        raise SensFormatError(f'{path}: header declares {num_frames} frames but only '
                              f'{file_size - frames_offset} bytes follow the header; truncated file?')
    return SensHeader(
        path=str(path), version=version, sensor_name=name,
        intrinsic_color=mats[0], extrinsic_color=mats[1], intrinsic_depth=mats[2], extrinsic_depth=mats[3],
        color_compression=color_compression, depth_compression=depth_compression,
        color_width=cw, color_height=ch, depth_width=dw, depth_height=dh,
        depth_shift=float(depth_shift), num_frames=num_frames, frames_offset=frames_offset)


def read_sens_header(path: PathLike) -> SensHeader:
    """Reads and validates the header of a ``.sens`` file.

    Args:
        path: Path to the ``.sens`` file.

    Returns:
        The parsed header.

    Raises:
        SensFormatError: Wrong version, implausible sizes, unknown/unsupported compression or a frame count the
            file is too small to hold. The message names the file.
    """
    with open(path, 'rb') as f:
        return _parse_header(f, path, os.fstat(f.fileno()).st_size)


def _decode_color(data: bytes, header: SensHeader, path: PathLike, index: int) -> np.ndarray:
    shape = (header.color_height, header.color_width, 3)
    if header.color_compression == 'raw':
        if len(data) != math.prod(shape):
            raise SensFormatError(f'{path}: frame {index}: raw color has {len(data)} bytes, expected '
                                  f'{math.prod(shape)}')
        return np.frombuffer(data, dtype=np.uint8).reshape(shape).copy()
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SensFormatError(f'{path}: frame {index}: cannot decode {header.color_compression} color image')
    if bgr.shape != shape:
        raise SensFormatError(f'{path}: frame {index}: color image is {bgr.shape}, header says {shape}')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _decode_depth(data: bytes, header: SensHeader, path: PathLike, index: int) -> np.ndarray:
    if header.depth_compression == 'zlib_ushort':
        try:
            data = zlib.decompress(data)
        except zlib.error as e:
            raise SensFormatError(f'{path}: frame {index}: corrupt zlib depth data ({e})') from e
    shape = (header.depth_height, header.depth_width)
    if len(data) != 2 * math.prod(shape):
        raise SensFormatError(f'{path}: frame {index}: depth has {len(data)} bytes, expected '
                              f'{2 * math.prod(shape)} for {shape} uint16')
    return np.frombuffer(data, dtype='<u2').reshape(shape).astype(np.uint16)


def iter_sens_frames(path: PathLike, frame_skip: int = 1, skip: Collection[int] = ()) -> Iterator[SensFrame]:
    """Lazily decodes every ``frame_skip``-th frame of a ``.sens`` file.

    Skipped frames are seeked over without reading their image data, so a large ``frame_skip`` costs little I/O.

    Args:
        path: Path to the ``.sens`` file.
        frame_skip: Yield frames whose index is a multiple of this (>= 1).
        skip: Frame indices not to decode (e.g. those an interrupted export already wrote).

    Yields:
        ``SensFrame(index, pose, color, depth)`` with pose (4, 4) float64, color (Hc, Wc, 3) uint8 RGB and
        depth (Hd, Wd) uint16 in header ``depth_shift`` units.

    Raises:
        SensFormatError: Bad header, a frame extending past the end of the file, or undecodable frame data. The
            message names the file and, for frame errors, the frame index.
    """
    if frame_skip < 1:
        raise ValueError(f'frame_skip must be >= 1, got {frame_skip}')
    with open(path, 'rb') as f:
        file_size = os.fstat(f.fileno()).st_size
        header = _parse_header(f, path, file_size)
        offset = header.frames_offset
        for index in range(header.num_frames):
            f.seek(offset)
            raw = f.read(_FRAME_HEADER.size)
            if len(raw) != _FRAME_HEADER.size:
                raise SensFormatError(f'{path}: frame {index}: truncated frame header at byte {offset} '
                                      f'(file has {file_size} bytes, {header.num_frames} frames declared)')
            values = _FRAME_HEADER.unpack(raw)
            color_size, depth_size = values[18], values[19]
            data_start = offset + _FRAME_HEADER.size
            offset = data_start + color_size + depth_size
            if offset > file_size:
                raise SensFormatError(f'{path}: frame {index}: declares {color_size} color + {depth_size} depth '
                                      f'bytes from byte {data_start}, but the file ends at byte {file_size} '
                                      '(truncated file?)')
            if index % frame_skip or index in skip:
                continue
            pose = np.asarray(values[:16], dtype=np.float64).reshape(4, 4)
            color = _decode_color(f.read(color_size), header, path, index)
            depth = _decode_depth(f.read(depth_size), header, path, index)
            yield SensFrame(index, pose, color, depth)


def scale_intrinsic(intrinsic: np.ndarray, src_hw: Tuple[int, int], dst_hw: Tuple[int, int]) -> np.ndarray:
    """Rescales a pinhole intrinsic matrix for an image resized from ``src_hw`` to ``dst_hw``.

    Args:
        intrinsic: (3, 3) or (4, 4) intrinsic matrix.
        src_hw: Original (height, width).
        dst_hw: New (height, width).

    Returns:
        Matrix of the same shape with fx, cx scaled by the width ratio and fy, cy by the height ratio (the same
        convention ScanNet's own tools use when resizing).
    """
    out = np.array(intrinsic, dtype=np.float64)
    out[0, :3] *= dst_hw[1] / src_hw[1]
    out[1, :3] *= dst_hw[0] / src_hw[0]
    return out


def _depth_to_mm(depth: np.ndarray, depth_shift: float) -> np.ndarray:
    if depth_shift == 1000.0:
        return depth
    mm = np.rint(depth.astype(np.float64) * (1000.0 / depth_shift))
    # Out-of-range depth becomes invalid (0) rather than a saturated, wrong distance.
    mm[mm > np.iinfo(np.uint16).max] = 0
    return mm.astype(np.uint16)


EXPORT_INFO = 'export.json'


def read_export_info(out_dir: PathLike) -> Optional[dict]:
    """The settings an export of one scene was written with (``export.json``), or None for a fresh folder."""
    path = Path(out_dir) / EXPORT_INFO
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f'{path}: unreadable export record ({e}); delete the scene folder to export it again') from e
    if not isinstance(info, dict) or not {'frame_skip', 'resize', 'complete'} <= set(info):
        raise ValueError(f'{path}: not an export record of this tool; delete the scene folder to export it again')
    return info


def _write_export_info(out_dir: Path, **info) -> None:
    tmp = out_dir / (EXPORT_INFO + '.tmp')
    tmp.write_text(json.dumps(info, indent=2) + '\n')
    os.replace(tmp, out_dir / EXPORT_INFO)


def _check_same_settings(out_dir: Path, info: Optional[dict], frame_skip: int, resize) -> None:
    if info is None:
        return
    wanted = dict(frame_skip=frame_skip, resize=list(resize) if resize else None)
    found = dict(frame_skip=info['frame_skip'], resize=info['resize'])
    if found != wanted:
        raise ValueError(f'{out_dir}: already exported with {found}, now asked for {wanted}; delete the folder or '
                         'choose another output root')


def _done_frames(out_dir: Path) -> set:
    """Indices of the frames whose colour, depth and pose files all exist."""
    def stems(sub, suffix):
        folder = out_dir / sub
        if not folder.is_dir():
            return set()
        return {p.name[:-len(suffix)] for p in folder.iterdir() if p.name.endswith(suffix)}
    done = stems('color', '.jpg') & stems('depth', '.png') & stems('pose', '.txt')
    return {int(stem) for stem in done if stem.isdigit()}


def export_sens(path: PathLike, out_dir: PathLike, frame_skip: int = 25,
                resize: Optional[Tuple[int, int]] = None, progress: bool = True, jpeg_quality: int = 95) -> int:
    """Exports every ``frame_skip``-th frame of a ``.sens`` file as images, depth maps and poses.

    Resumes: frames already written by an interrupted export with the same settings are kept, not decoded again;
    ``export.json`` records the settings and, once every frame is written, ``complete: true``.

    Args:
        path: Path to the ``.sens`` file.
        out_dir: Scene output directory; ``color/``, ``depth/``, ``pose/`` and ``intrinsic.txt`` are written here.
            Depth is written in millimetres whatever the file's ``depth_shift``.
        frame_skip: Keep frames whose index is a multiple of this.
        resize: Optional (height, width) for both colour and depth. Without it each stream keeps its native size
            (ScanNet: colour 968x1296, depth 480x640). Depth uses nearest-neighbour so no depth values are invented
            across object boundaries; colour uses area interpolation when shrinking and bilinear when enlarging.
        progress: Show a per-frame tqdm bar.
        jpeg_quality: JPEG quality for the colour frames.

    Returns:
        Number of frames the scene's export holds (written now or by an earlier, interrupted run).

    Raises:
        ValueError: ``frame_skip`` < 1, a non-positive ``resize``, or ``out_dir`` holding an export written with
            other settings.
        SensFormatError: See :func:`iter_sens_frames`.
        OSError: If an output file cannot be written.
    """
    if frame_skip < 1:
        raise ValueError(f'frame_skip must be >= 1, got {frame_skip}')
    if resize is not None:
        resize = (int(resize[0]), int(resize[1]))
        if min(resize) <= 0:
            raise ValueError(f'resize must be positive (height, width), got {resize}')
    header = read_sens_header(path)
    out_dir = Path(out_dir)
    _check_same_settings(out_dir, read_export_info(out_dir), frame_skip, resize)
    for sub in ('color', 'depth', 'pose'):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
        for stale in (out_dir / sub).glob('*.tmp.*'):  # left by an interrupted run
            stale.unlink()
    settings = dict(source=str(path), frame_skip=frame_skip, resize=list(resize) if resize else None)
    _write_export_info(out_dir, complete=False, **settings)
    done = _done_frames(out_dir)
    intrinsic = header.intrinsic_depth
    if resize is not None:
        intrinsic = scale_intrinsic(intrinsic, (header.depth_height, header.depth_width), resize)
    np.savetxt(out_dir / 'intrinsic.txt', intrinsic, fmt='%.6f')

    wanted = set(range(0, header.num_frames, frame_skip))
    done &= wanted
    frames = tqdm(iter_sens_frames(path, frame_skip, skip=done), total=len(wanted), initial=len(done),
                  desc=Path(path).stem, unit='frame', disable=not progress)
    written = len(done)
    for frame in frames:
        color, depth = frame.color, _depth_to_mm(frame.depth, header.depth_shift)
        if resize is not None:
            h, w = resize
            shrink = h * w < color.shape[0] * color.shape[1]
            color = cv2.resize(color, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
            depth = cv2.resize(depth, (w, h), interpolation=cv2.INTER_NEAREST)
        stem = f'{frame.index:06d}'
        _imwrite(out_dir / 'color' / f'{stem}.jpg', cv2.cvtColor(color, cv2.COLOR_RGB2BGR),
                 [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        _imwrite(out_dir / 'depth' / f'{stem}.png', depth)
        # The pose is written last: a frame counts as done once its pose file exists.
        pose_tmp = out_dir / 'pose' / f'{stem}.tmp.txt'
        np.savetxt(pose_tmp, frame.pose, fmt='%.8f')
        os.replace(pose_tmp, out_dir / 'pose' / f'{stem}.txt')
        written += 1
    _write_export_info(out_dir, complete=True, frames=written, **settings)
    return written


def _imwrite(path: Path, image: np.ndarray, params: Optional[List[int]] = None) -> None:
    # Under a temporary name (same suffix, so cv2 picks the format), then renamed: never a half-written frame.
    tmp = path.with_name(f'{path.stem}.tmp{path.suffix}')
    # cv2.imwrite reports failure only through its return value.
    if not cv2.imwrite(str(tmp), image, params or []):
        raise OSError(f'failed to write {path}')
    os.replace(tmp, path)


def find_sens_files(source: PathLike) -> List[Path]:
    """Lists the ``.sens`` files to convert.

    Args:
        source: A ``.sens`` file, or a ScanNet ``scans`` directory laid out as ``<scene>/<scene>.sens``.

    Returns:
        Sorted ``.sens`` paths.

    Raises:
        FileNotFoundError: If ``source`` does not exist or holds no ``<scene>/<scene>.sens`` files.
    """
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f'{source}: no such file or directory')
    found = sorted(p / f'{p.name}.sens' for p in source.iterdir() if (p / f'{p.name}.sens').is_file())
    if not found:
        raise FileNotFoundError(f'{source}: no <scene>/<scene>.sens files found')
    return found


def _export_one(sens: Path, out_root: Path, frame_skip: int, resize: Optional[Tuple[int, int]],
                progress: bool) -> bool:
    """Exports one scene unless a complete export with the same settings exists; True when it was exported."""
    out_dir = out_root / sens.stem
    info = read_export_info(out_dir)
    _check_same_settings(out_dir, info, frame_skip, resize)
    if info is not None and info['complete']:
        return False
    export_sens(sens, out_dir, frame_skip=frame_skip, resize=resize, progress=progress)
    return True


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export ScanNet .sens files to <out_root>/<scene>/{color,depth,pose}/ and intrinsic.txt.')
    parser.add_argument('source', help='ScanNet scans directory (<scene>/<scene>.sens) or a single .sens file')
    parser.add_argument('out_root', help='output root; each scene is written to <out_root>/<scene>/')
    parser.add_argument('--frame-skip', type=int, default=25, help='keep every N-th frame (default: 25)')
    parser.add_argument('--resize', type=int, nargs=2, metavar=('H', 'W'),
                        help='resize colour and depth to H x W (default: keep native sizes)')
    parser.add_argument('--workers', type=int, default=1, help='scenes converted in parallel (default: 1)')
    args = parser.parse_args(argv)
    if args.frame_skip < 1:
        parser.error('--frame-skip must be >= 1')
    if args.workers < 1:
        parser.error('--workers must be >= 1')
    if args.resize is not None and min(args.resize) <= 0:
        parser.error('--resize values must be positive')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        files = find_sens_files(args.source)
    except FileNotFoundError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    out_root = Path(args.out_root)
    resize = tuple(args.resize) if args.resize else None
    failures, skipped = [], 0

    if len(files) == 1 or args.workers == 1:
        # Sequential: a per-frame bar is more informative than a per-scene bar for one scene.
        bar = tqdm(files, desc='scenes', unit='scene', disable=len(files) == 1)
        for sens in bar:
            try:
                skipped += not _export_one(sens, out_root, args.frame_skip, resize, progress=len(files) == 1)
            except (ValueError, OSError) as e:
                failures.append(str(e))
    else:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            futures = [pool.submit(_export_one, sens, out_root, args.frame_skip, resize, False) for sens in files]
            for future in tqdm(as_completed(futures), total=len(futures), desc='scenes', unit='scene'):
                try:
                    skipped += not future.result()
                except (ValueError, OSError) as e:
                    failures.append(str(e))

    # Errors were collected rather than raised so one corrupt download does not abort a multi-hour run; the
    # messages already name their file.
    for line in failures:
        print(f'error: {line}', file=sys.stderr)
    done = f' ({skipped} already complete, skipped)' if skipped else ''
    print(f'converted {len(files) - len(failures)}/{len(files)} scenes to {out_root}{done}')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
