"""The command line shared by the M3D -> stock ViT converters.

Only argparse is imported here, so ``--help`` and usage errors answer at once; the conversion itself is
:func:`m33d_mm.tools.model_converters.convert_cli`.
"""
import argparse
from typing import Optional, Sequence


def build_parser(framework: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='M3D checkpoint file, or the work directory of an M3D run')
    parser.add_argument('dst', help='output .pth (missing folders are created)')
    parser.add_argument('--img-size', type=int, nargs='+', default=[224], metavar='S',
                        help='input size of the stock backbone: one value (square) or H W (default 224)'
                        if framework != 'mmaction' else 'side of the square input frames (default 224)')
    parser.add_argument('--num-heads', type=int, default=None,
                        help='attention heads of the encoder (not stored in weights; default embed_dims // 64)')
    parser.add_argument('--prefix', default='', help='prefix for every key, e.g. "backbone."')
    if framework == 'mmaction':
        parser.add_argument('--num-frames', type=int, default=16, help='frames per clip (default 16)')
    return parser


def run(framework: str, doc: str, argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` (the process's arguments when None), then convert; 0 on success, 1 on a clear error."""
    args = build_parser(framework, doc.split('\n\n')[0]).parse_args(argv)
    from m33d_mm.tools.model_converters import convert_cli
    return convert_cli(framework, args)
