"""Readers shared by every list file and frame folder of the project's datasets and tools.

List files (split files, annotation lists, phase segments, video lists) have one entry per line, blank lines and
lines starting with ``#`` skipped; errors name ``file:line``. Frame folders hold one image per frame, ordered by
their numeric file stem. This module imports only the standard library.
"""
import os.path as osp
from typing import List, NamedTuple, Tuple


class ListLine(NamedTuple):
    """One entry of a list file: its 1-based line number, its text (stripped) and ``file:line`` for errors."""
    number: int
    text: str
    where: str

    @property
    def fields(self) -> List[str]:
        """The whitespace-separated fields of the line."""
        return self.text.split()


def read_list_lines(path: str, what: str) -> List[ListLine]:
    """The entries of a list file, in order.

    Args:
        path (str): the file.
        what (str): what the file is (``'annotation list'``), for the error when it does not exist.

    Raises:
        FileNotFoundError: ``"<what> <path> does not exist"``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path} does not exist')
    entries = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if line and not line.startswith('#'):
                entries.append(ListLine(number, line, f'{path}:{number}'))
    return entries


def read_split_file(path: str) -> List[str]:
    """Scene ids, one per line; blank lines and ``#`` comments (whole lines or line ends) ignored."""
    scenes = [entry.text.split('#')[0].strip() for entry in read_list_lines(path, 'split file')]
    if not scenes:
        raise ValueError(f'split file {path} lists no scenes')
    return scenes


def frame_sort_key(name: str) -> Tuple[int, int, str]:
    """Sort key of a frame file name: numeric stems in numeric order first, then the others by name."""
    stem = osp.splitext(name)[0]
    return (0, int(stem), stem) if stem.isdigit() else (1, 0, stem)
