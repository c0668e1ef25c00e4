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
import importlib.util
import os
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple


def _load_sibling(name: str):
    # By file path: tools/ is not a package, and this script must work from any working directory.
    path = osp.join(osp.dirname(osp.abspath(__file__)), f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_m33d_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stock_vit_args = _load_sibling('stock_vit_args')
build_parser, parse_img_size = stock_vit_args.build_parser, stock_vit_args.parse_img_size
if __name__ == '__main__':
    build_parser(__doc__.split('\n\n')[0]).parse_args()  # --help and usage errors before the stack's imports

import m33d_mm  # noqa: E402,F401  (stack fixes before mmpretrain/mmseg import torchvision and mmcv.ops)
import torch  # noqa: E402

from m33d_mm.models import RGBDViT  # noqa: E402
from m33d_mm.models.checkpoint import (CheckpointMismatchError, extract_state_dict, fit_to_backbone,  # noqa: E402
                                       infer_rgbd_vit_config, load_trusted_work_dir, load_weights_file,
                                       to_rgbd_vit_keys, unused_keys)

RGB_EMBED = 'patch_embed.rgb.projection.'


def load_rgb_encoder(src: str) -> Tuple[RGBDViT, dict, dict]:
    """The RGB image encoder of an M3D checkpoint.

    Args:
        src (str): weights file or mmengine work directory of an M3D run.

    Returns:
        tuple: ``(encoder, config, report)``: an ``RGBDViT`` with ``modalities=dict(rgb=3)`` holding the weights
        (and the position-table layout they were trained with), the ``RGBDViT`` arguments it was built with (see
        :func:`infer_rgbd_vit_config`) and ``dict(source_format, dropped, non_encoder)``: the encoder tensors not
        converted (other modalities) and the number of tensors outside the encoder (decoder, heads).

    Raises:
        CheckpointMismatchError: if ``src`` is not an M3D / ViT checkpoint or lacks encoder weights (named).
    """
    checkpoint = load_trusted_work_dir(src) if osp.isdir(src) else load_weights_file(src)
    raw = extract_state_dict(checkpoint)
    source, fmt = to_rgbd_vit_keys(raw)
    try:
        config = infer_rgbd_vit_config(source)
    except KeyError as err:
        raise CheckpointMismatchError(f'{src}: not a complete ViT encoder ({err})') from err
    if config['tubelet_size'] is not None:
        raise CheckpointMismatchError(f'{src} holds a video encoder (Conv3d tubelet patch embedding); stock '
                                      'image ViTs cannot take it (use m33d_to_mmaction_vit.py)')
    encoder = RGBDViT(modalities=dict(rgb=3), **config)
    fitted = fit_to_backbone(encoder, source, src)
    encoder.load_state_dict(fitted, strict=True)
    report = dict(source_format=fmt, dropped=unused_keys(source, fitted), non_encoder=len(raw) - len(source),
                  pos_embed_layout=encoder.pos_embed_layout)
    return encoder.eval(), config, report


def to_mmpretrain_keys(encoder: RGBDViT, img_size: Sequence[int]) -> Dict[str, torch.Tensor]:
    """``RGBDViT`` RGB-encoder parameters -> mmpretrain ``VisionTransformer`` keys, with a ``pos_embed``.

    Args:
        encoder: output of :func:`load_rgb_encoder`.
        img_size: ``(H, W)`` the stock backbone is built with; multiples of the patch size.

    Returns:
        dict: tensors named as in mmpretrain; ``pos_embed`` ``(1, [1 +] h*w, C)`` is the encoder's own fixed
        table for the ``(H/P, W/P)`` grid, after a zero class-token slot when the encoder has a class token.
    """
    patch_size = encoder.patch_size
    if any(s % patch_size for s in img_size):
        raise ValueError(f'--img-size {tuple(img_size)} must be a multiple of the patch size {patch_size}')
    out = OrderedDict()
    for key, value in encoder.named_parameters():
        out[key.replace(RGB_EMBED, 'patch_embed.projection.')] = value.detach().clone()
    pos = encoder.pos_embed((img_size[0] // patch_size, img_size[1] // patch_size), 'cpu', torch.float32)
    if encoder.with_cls_token:
        pos = torch.cat([pos.new_zeros(1, 1, encoder.embed_dims), pos], dim=1)
    out['pos_embed'] = pos.clone()
    return out


def mmpretrain_backbone_cfg(config: dict, img_size: Sequence[int], num_heads: Optional[int] = None) -> dict:
    """Stock mmpretrain backbone settings under which the converted weights reproduce ``RGBDViT``.

    ``out_type`` / ``out_indices`` are left to the downstream config ('featmap' gives ``RGBDViT``'s output).
    """
    arch = dict(config['arch'], num_heads=num_heads or config['arch']['num_heads'])
    return dict(type='VisionTransformer', arch=arch, img_size=tuple(img_size), patch_size=config['patch_size'],
                qkv_bias=True, with_cls_token=config['with_cls_token'], final_norm=True,
                norm_cfg=dict(type='LN', eps=1e-6))


def check_loads(model: torch.nn.Module, state_dict: Dict[str, torch.Tensor], what: str):
    """Raise if ``state_dict`` leaves keys of ``model`` missing or has keys it does not know."""
    result = model.load_state_dict(state_dict, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointMismatchError(f'converted weights do not fit {what}: missing {result.missing_keys[:8]}, '
                                      f'unexpected {result.unexpected_keys[:8]}')


def save(dst: str, state_dict: Dict[str, torch.Tensor], prefix: str, meta: dict):
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(dict(state_dict=OrderedDict((prefix + k, v) for k, v in state_dict.items()), meta=meta), dst)
    print(f'{meta["source"]} ({meta["source_format"]}) -> {dst}: {len(state_dict)} tensors\n'
          f'  not converted: {meta["dropped"] or "none"} and {meta["non_encoder"]} non-encoder tensors\n'
          f'  stock backbone: {meta["backbone_cfg"]}')


def main(argv=None) -> int:
    args = build_parser(__doc__.split('\n\n')[0]).parse_args(argv)
    img_size = parse_img_size(args.img_size)
    from mmpretrain.registry import MODELS
    try:
        encoder, config, report = load_rgb_encoder(args.src)
        converted = to_mmpretrain_keys(encoder, img_size)
        backbone_cfg = mmpretrain_backbone_cfg(config, img_size, args.num_heads)
        # _scope_: the stock class even where another default scope is active (tests, notebooks)
        stock = MODELS.build(dict(backbone_cfg, _scope_='mmpretrain'))
        check_loads(stock, converted, 'mmpretrain VisionTransformer')
    except (CheckpointMismatchError, FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    save(args.dst, converted, args.prefix, dict(report, source=args.src, backbone_cfg=backbone_cfg))
    return 0


if __name__ == '__main__':
    sys.exit(main())
