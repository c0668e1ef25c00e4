"""Writes the embedded synthetic RGB-D indoor dataset in the ScanNet export layout.

Example:
    python tools/data/generate_synthetic_rgbd.py data/synthetic_rgbd --num-scenes 8 --workers 2

Re-running with the same arguments on a finished dataset returns at once, so scripts may call it every time.
"""
import argparse
import sys

from m33d_mm.datasets.synthetic import generate_dataset


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='output directory (created if missing)')
    parser.add_argument('--num-scenes', type=int, default=8, help='number of scenes')
    parser.add_argument('--frames-per-scene', type=int, default=16, help='frames along each camera trajectory')
    parser.add_argument('--height', type=int, default=240, help='image height in pixels')
    parser.add_argument('--width', type=int, default=320, help='image width in pixels')
    parser.add_argument('--seed', type=int, default=0, help='master seed; same seed gives identical files')
    parser.add_argument('--val-scenes', type=int, default=2, help='scenes in the val split (the last ones)')
    parser.add_argument('--workers', type=int, default=1, help='processes rendering scenes in parallel')
    parser.add_argument('--force', action='store_true',
                        help='replace a different or partial dataset already in out_dir')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        summary = generate_dataset(
            args.out_dir,
            num_scenes=args.num_scenes,
            frames_per_scene=args.frames_per_scene,
            height=args.height,
            width=args.width,
            seed=args.seed,
            val_scenes=args.val_scenes,
            workers=args.workers,
            force=args.force)
    except (ValueError, FileExistsError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    splits = f"{len(summary['train'])} train / {len(summary['val'])} val scenes"
    if summary['skipped']:
        print(f"{summary['out_dir']}: complete dataset with these settings already present ({splits}), "
              f'nothing written')
    else:
        print(f"{summary['out_dir']}: wrote {summary['frames_written']} frames ({splits}) in "
              f"{summary['seconds']:.1f} s, {summary['frames_per_second']:.1f} frames/s")
    return 0


if __name__ == '__main__':
    sys.exit(main())
