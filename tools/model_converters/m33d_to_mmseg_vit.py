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
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # tools/ is not a package; runs from any directory
from stock_vit_args import run  # noqa: E402  (argparse only until the arguments are parsed)


def main(argv=None) -> int:
    return run('mmseg', __doc__, argv)


if __name__ == '__main__':
    sys.exit(main())
