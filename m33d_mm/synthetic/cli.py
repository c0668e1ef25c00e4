"""What the command-line generators (``tools/data/generate_synthetic_*.py``) share: argument checks, the output
folder, and the summary line."""
import argparse
import json
import operator
import shutil
import sys
from pathlib import Path
from typing import Callable, Sequence, Tuple, Union

__all__ = ['check_int', 'check_frame_size', 'prepare_output_dir', 'run_generator', 'generator_parser']


def check_int(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, or a ValueError naming ``name``."""
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f'{name} must be an integer, got {value!r}') from None
    if value < minimum:
        raise ValueError(f'{name} must be >= {minimum}, got {value}')
    return value


def check_frame_size(height, width, even: bool = False) -> Tuple[int, int]:
    """``(height, width)`` as ints of at least 16 pixels (and even, for MPEG-4), or a ValueError naming them."""
    height, width = check_int('height', height, 16), check_int('width', width, 16)
    if even and (height % 2 or width % 2):
        raise ValueError(f'height and width must be even, got {height} x {width}')
    return height, width


def generator_parser(doc: str, height: int, width: int, seed_help: str, even: bool = False) -> argparse.ArgumentParser:
    """Parser with what every generator's command line takes: ``out_dir``, ``--height``, ``--width``, ``--seed``
    and ``--force``; the generator adds its own options. ``doc`` is the script's docstring (first line: the
    description)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument('out_dir', help='output directory (created if missing)')
    size = ' (even)' if even else ''
    parser.add_argument('--height', type=int, default=height, help=f'frame height in pixels{size}')
    parser.add_argument('--width', type=int, default=width, help=f'frame width in pixels{size}')
    parser.add_argument('--seed', type=int, default=0, help=f'master seed; {seed_help}')
    parser.add_argument('--force', action='store_true',
                        help='replace a different or partial dataset already in out_dir')
    return parser


def prepare_output_dir(out: Path, meta: dict, generated: Union[Sequence[str], Callable[[Path], bool]], force: bool,
                       what: str) -> None:
    """Make ``out`` ready for a fresh dataset (shared by the synthetic generators).

    A non-empty ``out`` is refused unless ``force``; then only the generator's own entries are removed
    (``generated``: their names, or a predicate on each entry), so nothing else in the folder is lost.
    """
    if out.exists() and not out.is_dir():
        raise FileExistsError(f'{out} exists and is not a directory')
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f'{out} is not empty and does not hold a complete {what} with '
                                  f'these settings ({json.dumps(meta)}); choose another directory or pass '
                                  'force=True (--force) to replace it')
        owned = generated if callable(generated) else (lambda entry: entry.name in generated)
        for entry in list(out.iterdir()):
            if not owned(entry):
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)


def run_generator(generate: Callable[..., dict], options: dict, describe: Callable[[dict], Tuple[str, str]]) -> int:
    """Command-line body shared by the synthetic generators (``tools/data/generate_synthetic_*.py``).

    Calls ``generate(**options)``; a bad argument or an occupied output folder prints ``error: ...`` and gives
    exit status 2. Otherwise prints one summary line: ``describe(summary)`` returns the splits (e.g.
    ``"6 train / 2 val scenes"``) and what was written (e.g. ``"128 frames"``); the rate is added when the
    summary has ``frames_per_second``. Returns the exit status.
    """
    try:
        summary = generate(**options)
    except (ValueError, FileExistsError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    splits, written = describe(summary)
    if summary['skipped']:
        print(f"{summary['out_dir']}: complete dataset with these settings already present ({splits}), "
              'nothing written')
    else:
        rate = f", {summary['frames_per_second']:.1f} frames/s" if 'frames_per_second' in summary else ''
        print(f"{summary['out_dir']}: wrote {written} ({splits}) in {summary['seconds']:.1f} s{rate}")
    return 0
