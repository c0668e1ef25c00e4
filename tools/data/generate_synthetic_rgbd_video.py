"""Writes the embedded synthetic RGB-D motion videos (5 motion classes) in the layout RGBDVideoDataset reads.

Example:
    python tools/data/generate_synthetic_rgbd_video.py data/synthetic_rgbd_video --videos-per-class 16

Re-running with the same arguments on a finished dataset returns at once, so scripts may call it every time.
"""
import sys

from m33d_mm.synthetic.cli import generator_parser, run_generator
from m33d_mm.synthetic.video import generate_video_dataset


def parse_args(argv=None):
    parser = generator_parser(__doc__, height=96, width=128, seed_help='same seed gives identical videos', even=True)
    parser.add_argument('--videos-per-class', type=int, default=16, help='videos of each motion class')
    parser.add_argument('--val-per-class', type=int, default=4, help='videos of each class in the val split')
    parser.add_argument('--num-frames', type=int, default=32, help='frames per video')
    parser.add_argument('--rgb-format', choices=['mp4', 'frames'], default='mp4',
                        help='RGB as mp4v video files (decoded with decord) or as JPEG frame folders')
    parser.add_argument('--fps', type=int, default=25, help='frame rate of the mp4 files')
    return parser.parse_args(argv)


def describe(summary):
    return f"{summary['train']} train / {summary['val']} val videos", f"{summary['videos_written']} videos"


def main(argv=None):
    return run_generator(generate_video_dataset, vars(parse_args(argv)), describe)


if __name__ == '__main__':
    sys.exit(main())
