"""Damage that decodes without an error: a JPEG with overwritten bytes, a depth map saturated at 65535.

OpenCV decodes a JPEG whose compressed data was overwritten (file length unchanged) into a visibly damaged
image and returns it; only libjpeg's warning on the process's stderr (``Corrupt JPEG data: ...``) shows it.
:func:`decode_checked` decodes with that stream captured and also scans the compressed data for markers that
cannot occur there. A uint16 depth map whose readings are mostly 65535 decodes fine too, but holds no depth.

The loaders (:func:`~m33d_mm.datasets.transforms.rgbd.read_rgb`, ``read_depth``) call :func:`report`, which
logs one warning per file and process; ``tools/data/check_dataset.py`` collects the same findings as problems
(:func:`collected`).
"""
import contextlib
import os
import sys
import tempfile
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

__all__ = ['collected', 'decode_checked', 'depth_saturation', 'jpeg_marker_damage', 'report']

SATURATED = 65535
# fraction of pixels at 65535 from which a depth map counts as saturated
SATURATION_LIMIT = 0.5
# markers that may follow compressed scan data: RSTn, EOI, and the segments between the scans of a progressive JPEG
_SEGMENTS_BETWEEN_SCANS = {0xC4, 0xDA, 0xDB, 0xDD, 0xFE} | set(range(0xE0, 0xF0))

_warned = set()
_collecting: Optional[Dict[str, Tuple[str, str]]] = None


def jpeg_marker_damage(buffer: bytes) -> Optional[str]:
    """Where a JPEG's compressed data holds a marker that cannot be there, or None (also for non-JPEGs)."""
    data = np.frombuffer(buffer, np.uint8)
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return f'no segment marker at byte {pos}'
        marker = int(data[pos + 1])
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xD9:
            return None
        length = (int(data[pos + 2]) << 8) | int(data[pos + 3])
        pos += 2 + length
        if marker != 0xDA:
            continue
        # compressed data: 0xFF is followed by 0x00 (stuffing), 0xFF (fill) or RSTn, until the next marker
        scan = data[pos:]
        ff = np.flatnonzero(scan[:-1] == 0xFF)
        following = scan[ff + 1]
        allowed = (following == 0x00) | (following == 0xFF) | ((following >= 0xD0) & (following <= 0xD7))
        ends = np.flatnonzero(~allowed)
        if not len(ends):
            return 'the compressed data has no end marker'
        pos += int(ff[ends[0]])
        nxt = int(data[pos + 1])
        if nxt != 0xD9 and nxt not in _SEGMENTS_BETWEEN_SCANS:
            return f'marker 0xFF{nxt:02X} inside the compressed data at byte {pos}'
    return None


@contextlib.contextmanager
def _captured_stderr():
    """The C-level stderr of this process while inside (libjpeg writes its warnings there)."""
    captured = dict(text='')
    sys.stderr.flush()
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured['text'] = tmp.read().decode(errors='replace')


def decode_checked(buffer: bytes, flags: int) -> Tuple[Optional[np.ndarray], Optional[str]]:
    """``cv2.imdecode`` plus a description of JPEG damage it decoded through (None when there is none)."""
    if not buffer:
        return None, None
    array = np.frombuffer(buffer, np.uint8)
    if buffer[:2] != b'\xff\xd8':
        return cv2.imdecode(array, flags), None
    with _captured_stderr() as err:
        img = cv2.imdecode(array, flags)
    warnings = [line.strip() for line in err['text'].splitlines() if line.strip()]
    other = [line for line in warnings if 'JPEG' not in line]
    if other:  # not libjpeg's: pass it on
        print('\n'.join(other), file=sys.stderr)
    libjpeg = [line for line in warnings if 'JPEG' in line]
    if img is None:
        return None, None
    damage = libjpeg[0] if libjpeg else jpeg_marker_damage(buffer)
    return img, damage


def depth_saturation(depth: np.ndarray) -> float:
    """Fraction of a raw uint16 depth map's pixels at 65535."""
    return float((depth == SATURATED).mean()) if depth.size else 0.0


def report(path: str, kind: str, message: str) -> None:
    """A loader found damage it decodes through: collected for the checker, else one warning per file."""
    if _collecting is not None:
        _collecting[path] = (kind, message)
        return
    if path in _warned:
        return
    _warned.add(path)
    from mmengine.logging import print_log
    print_log(message + ' (warned once per file)', logger='current', level=30)


@contextlib.contextmanager
def collected():
    """``{path: (kind, message)}`` of everything the loaders :func:`report` inside, instead of warnings."""
    global _collecting
    previous, _collecting = _collecting, {}
    try:
        yield _collecting
    finally:
        _collecting = previous
