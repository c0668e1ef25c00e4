"""Writes the embedded synthetic RGB-D indoor dataset in the ScanNet export layout.

Example:
    python tools/data/generate_synthetic_rgbd.py data/synthetic_rgbd --num-scenes 8 --workers 2

Re-running with the same arguments on a finished dataset returns at once, so scripts may call it every time.
"""
import sys

from m33d_mm.synthetic.cli import generator_parser, run_generator
from m33d_mm.synthetic.scenes import generate_dataset


def parse_args(argv=None):
    parser = generator_parser(__doc__, height=240, width=320, seed_help='same seed gives identical files')
    parser.add_argument('--num-scenes', type=int, default=8, help='number of scenes')
    parser.add_argument('--frames-per-scene', type=int, default=16, help='frames along each camera trajectory')
    parser.add_argument('--val-scenes', type=int, default=2, help='scenes in the val split (the last ones)')
    parser.add_argument('--workers', type=int, default=1, help='processes rendering scenes in parallel')
    return parser.parse_args(argv)


def describe(summary):
    return (f"{len(summary['train'])} train / {len(summary['val'])} val scenes", f"{summary['frames_written']} frames")


def main(argv=None):
    return run_generator(generate_dataset, vars(parse_args(argv)), describe)


if __name__ == '__main__':
    sys.exit(main())
