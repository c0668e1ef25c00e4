"""Writes synthetic long RGB-D videos with phase segments (the motion changes) in the OR-AR layout.

Example:
    python tools/data/generate_synthetic_phase_video.py data/synthetic_phase_video

Re-running with the same arguments on a finished dataset returns at once, so scripts may call it every time.
"""
import argparse
import sys

from m33d_mm.datasets.synthetic import run_generator
from m33d_mm.datasets.synthetic_phase import generate_phase_dataset


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='output directory (created if missing)')
    parser.add_argument('--num-videos', type=int, default=16, help='videos in all')
    parser.add_argument('--val-videos', type=int, default=4, help='videos of the val split (the last ones)')
    parser.add_argument('--phases-per-video', type=int, default=4, help='distinct phases (motions) per video')
    parser.add_argument('--segment-frames', type=int, nargs=2, default=[16, 24], metavar=('MIN', 'MAX'),
                        help='frames of one phase, inclusive range')
    parser.add_argument('--overlap', type=int, default=2,
                        help='frames an annotated segment extends beyond each change of motion')
    parser.add_argument('--height', type=int, default=96, help='frame height in pixels (even)')
    parser.add_argument('--width', type=int, default=128, help='frame width in pixels (even)')
    parser.add_argument('--seed', type=int, default=0, help='master seed; same seed gives identical videos')
    parser.add_argument('--force', action='store_true',
                        help='replace a different or partial dataset already in out_dir')
    return parser.parse_args(argv)


def describe(summary):
    return (f"{summary['train']} train / {summary['val']} val videos",
            f"{summary['videos_written']} videos, {summary['frames']} frames")


def main(argv=None):
    return run_generator(generate_phase_dataset, vars(parse_args(argv)), describe)


if __name__ == '__main__':
    sys.exit(main())
