"""Convert the RGB encoder of an M3D checkpoint to mmpretrain's stock ``VisionTransformer``.

The source is an M3D pre-training run (its work directory: the last checkpoint is loaded, trusted) or a
weights file (loaded with ``weights_only=True``) in any format :mod:`m33d_mm.models.checkpoint` reads. The
depth patch embedding, modality-specific layers and the decoder are dropped. M3D has no learnt position
embedding; the stock ViT's ``pos_embed`` is filled with the encoder's fixed sine-cosine table (in the layout its
weights were trained with) for the patch grid of ``--img-size``, after a zero class-token slot (M3D gives the
class token no position), so a stock backbone built
with the printed settings and that ``img_size`` computes the same features as ``RGBDViT`` on the same RGB
input. At other input sizes the stock class resizes the table bicubically, which only approximates the
sine-cosine values of the new grid; convert at the size you fine-tune at.

    python tools/model_converters/m33d_to_mmpretrain_vit.py \\
        work_dirs/m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd \\
        checkpoints/m33d_vit-base_mmpretrain.pth --img-size 224

The output ``{'state_dict', 'meta'}`` loads with
``backbone=dict(type='VisionTransformer', ..., init_cfg=dict(type='Pretrained', checkpoint=OUT))`` (keys
without prefix; ``--prefix backbone.`` for ``prefix='backbone.'`` or ``load_from``).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # tools/ is not a package; runs from any directory
from stock_vit_args import run  # noqa: E402  (argparse only until the arguments are parsed)


def main(argv=None) -> int:
    return run('mmpretrain', __doc__, argv)


if __name__ == '__main__':
    sys.exit(main())
