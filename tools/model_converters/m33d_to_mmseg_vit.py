"""Convert the RGB encoder of an M3D checkpoint to mmsegmentation's stock ``VisionTransformer``.

Same as ``m33d_to_mmpretrain_vit.py`` (which see for the position embedding), with mmseg's attention names
(``attn.attn.in_proj_*`` / ``attn.attn.out_proj``: the same q, k, v layout as mmpretrain's ``qkv``). mmseg's
ViT resizes a checkpoint's ``pos_embed`` in ``init_weights`` assuming a square grid, so build the stock
backbone with ``img_size`` equal to ``--img-size`` (non-square is fine then) and with the printed settings:
``patch_bias=True`` (mmseg's default has none), ``final_norm=True``, ``with_cls_token=True``,
``output_cls_token=False`` and LayerNorm ``eps=1e-6``.

    python tools/model_converters/m33d_to_mmseg_vit.py work_dirs/m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd \\
        checkpoints/m33d_vit-base_mmseg.pth --img-size 512

The output loads with ``model.pretrained=OUT`` (or the backbone's ``init_cfg=dict(type='Pretrained',
checkpoint=OUT)``) in stock mmseg ViT configs.
"""
import importlib.util
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, Optional, Sequence



def _load_sibling(name: str):
    # By file path: tools/ is not a package, and this script must work from any working directory.
    path = osp.join(osp.dirname(osp.abspath(__file__)), f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_m33d_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == '__main__':
    # --help and usage errors before the stack's imports
    _load_sibling('stock_vit_args').build_parser(__doc__.split('\n\n')[0]).parse_args()

import m33d_mm  # noqa: E402,F401  (stack fixes before mmseg imports torchvision and mmcv.ops)
import torch  # noqa: E402

to_mmpretrain = _load_sibling('m33d_to_mmpretrain_vit')

MMSEG_RENAMES = [
    (r'^layers\.(\d+)\.attn\.qkv\.(weight|bias)$', r'layers.\1.attn.attn.in_proj_\2'),
    (r'^layers\.(\d+)\.attn\.proj\.', r'layers.\1.attn.attn.out_proj.'),
]


def to_mmseg_keys(encoder, img_size: Sequence[int]) -> Dict[str, torch.Tensor]:
    """``RGBDViT`` RGB-encoder parameters -> mmseg ``VisionTransformer`` keys, with a ``pos_embed`` (cls slot
    first).

    mmseg's ViT always holds a class token; an encoder without one gets a zero token (mmseg drops it again
    with ``with_cls_token=False``).
    """
    out = OrderedDict()
    for key, value in to_mmpretrain.to_mmpretrain_keys(encoder, img_size).items():
        for pattern, repl in MMSEG_RENAMES:
            key = re.sub(pattern, repl, key)
        out[key] = value
    if 'cls_token' not in out:
        embed_dims = out['pos_embed'].shape[-1]
        out['cls_token'] = torch.zeros(1, 1, embed_dims)
        out['pos_embed'] = torch.cat([out['pos_embed'].new_zeros(1, 1, embed_dims), out['pos_embed']], dim=1)
    return out


def mmseg_backbone_cfg(config: dict, img_size: Sequence[int], num_heads: Optional[int] = None) -> dict:
    """Stock mmseg backbone settings under which the converted weights reproduce ``RGBDViT``."""
    arch = config['arch']
    if arch['feedforward_channels'] % arch['embed_dims']:
        raise ValueError(f'mmseg ViTs have feedforward width = mlp_ratio * embed_dims with an integer ratio; this '
                         f'encoder has {arch["feedforward_channels"]} / {arch["embed_dims"]}')
    return dict(type='VisionTransformer', img_size=tuple(img_size), patch_size=config['patch_size'],
                embed_dims=arch['embed_dims'], num_layers=arch['num_layers'],
                num_heads=num_heads or arch['num_heads'],
                mlp_ratio=arch['feedforward_channels'] // arch['embed_dims'], qkv_bias=True, patch_bias=True,
                with_cls_token=config['with_cls_token'], output_cls_token=False, final_norm=True,
                norm_cfg=dict(type='LN', eps=1e-6))


def main(argv=None) -> int:
    args = to_mmpretrain.build_parser(__doc__.split('\n\n')[0]).parse_args(argv)
    img_size = to_mmpretrain.parse_img_size(args.img_size)
    from mmseg.registry import MODELS
    try:
        encoder, config, report = to_mmpretrain.load_rgb_encoder(args.src)
        converted = to_mmseg_keys(encoder, img_size)
        backbone_cfg = mmseg_backbone_cfg(config, img_size, args.num_heads)
        # _scope_: the stock class even where another default scope is active (tests, notebooks)
        stock = MODELS.build(dict(backbone_cfg, _scope_='mmseg'))
        to_mmpretrain.check_loads(stock, converted, 'mmseg VisionTransformer')
    except (to_mmpretrain.CheckpointMismatchError, FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    to_mmpretrain.save(args.dst, converted, args.prefix, dict(report, source=args.src, backbone_cfg=backbone_cfg))
    return 0


if __name__ == '__main__':
    sys.exit(main())
