"""Files the synthetic generators write: frame names, image encodings, depth in millimetres, pose matrices."""
from pathlib import Path

import cv2
import numpy as np

__all__ = ['FRAME_DIGITS', 'PNG_PARAMS', 'JPEG_PARAMS', 'frame_name', 'depth_to_mm', 'write_matrix',
           'write_labelled_frame']

FRAME_DIGITS = 6
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]
JPEG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, 95]


def frame_name(frame: int) -> str:
    """File stem of frame ``frame``: zero-padded to :data:`FRAME_DIGITS` digits."""
    return f'{frame:0{FRAME_DIGITS}d}'


def depth_to_mm(depth: np.ndarray) -> np.ndarray:
    """Depth in metres (0 = missing) as the uint16 millimetres of the PNGs, clipped to the uint16 range."""
    return np.clip(np.rint(depth * 1000.0), 0, 65535).astype(np.uint16)


def write_matrix(path: Path, matrix: np.ndarray) -> None:
    """A matrix as text, one row per line (ScanNet's ``pose/*.txt`` and ``intrinsic.txt``)."""
    path.write_text('\n'.join(' '.join(f'{v:.6f}' for v in row) for row in matrix) + '\n')


def write_labelled_frame(root: Path, name: str, rgb: np.ndarray, depth: np.ndarray, label: np.ndarray,
                         pose: np.ndarray) -> None:
    """One frame in the ScanNet export layout: ``root/{color/NAME.jpg, depth/NAME.png, label/NAME.png,
    pose/NAME.txt}`` from RGB uint8, depth in metres, uint8 labels and the 4x4 camera-to-world pose."""
    for sub in ('color', 'depth', 'label', 'pose'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(str(root / 'color' / f'{name}.jpg'), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), JPEG_PARAMS)
    ok &= cv2.imwrite(str(root / 'depth' / f'{name}.png'), depth_to_mm(depth), PNG_PARAMS)
    ok &= cv2.imwrite(str(root / 'label' / f'{name}.png'), label, PNG_PARAMS)
    if not ok:
        raise OSError(f'OpenCV failed to write frame {name} of {root}')
    write_matrix(root / 'pose' / f'{name}.txt', pose)
