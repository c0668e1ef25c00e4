"""Command-line arguments shared by the M3D -> stock ViT converters (argparse only, so ``--help`` is instant)."""
import argparse
from typing import Sequence, Tuple


def build_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='M3D checkpoint file, or the work directory of an M3D run')
    parser.add_argument('dst', help='output .pth (missing folders are created)')
    parser.add_argument('--img-size', type=int, nargs='+', default=[224], metavar='S',
                        help='input size of the stock backbone: one value (square) or H W (default 224)')
    parser.add_argument('--num-heads', type=int, default=None,
                        help='attention heads of the encoder (not stored in weights; default embed_dims // 64)')
    parser.add_argument('--prefix', default='', help='prefix for every key, e.g. "backbone."')
    return parser


def parse_img_size(values: Sequence[int]) -> Tuple[int, int]:
    if len(values) not in (1, 2):
        raise SystemExit(f'--img-size takes one or two values, got {values}')
    return (values[0], values[-1])

