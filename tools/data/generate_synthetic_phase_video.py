"""Writes synthetic long RGB-D videos with phase segments (the motion changes) in the OR-AR layout.

Example:
    python tools/data/generate_synthetic_phase_video.py data/synthetic_phase_video

Re-running with the same arguments on a finished dataset returns at once, so scripts may call it every time.
"""
import sys

from m33d_mm.synthetic.cli import generator_parser, run_generator
from m33d_mm.synthetic.phase import generate_phase_dataset


def parse_args(argv=None):
    parser = generator_parser(__doc__, height=96, width=128, seed_help='same seed gives identical videos', even=True)
    parser.add_argument('--num-videos', type=int, default=16, help='videos in all')
    parser.add_argument('--val-videos', type=int, default=4, help='videos of the val split (the last ones)')
    parser.add_argument('--phases-per-video', type=int, default=4, help='distinct phases (motions) per video')
    parser.add_argument('--segment-frames', type=int, nargs=2, default=[16, 24], metavar=('MIN', 'MAX'),
                        help='frames of one phase, inclusive range')
    parser.add_argument('--overlap', type=int, default=2,
                        help='frames an annotated segment extends beyond each change of motion')
    return parser.parse_args(argv)


def describe(summary):
    return (f"{summary['train']} train / {summary['val']} val videos",
            f"{summary['videos_written']} videos, {summary['frames']} frames")


def main(argv=None):
    return run_generator(generate_phase_dataset, vars(parse_args(argv)), describe)


if __name__ == '__main__':
    sys.exit(main())
