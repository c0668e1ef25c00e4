"""Convert the RGB video encoder of an M3D checkpoint to mmaction2's stock (VideoMAE) ``VisionTransformer``.

Sources: an M3D video pre-training run (its work directory: the last checkpoint is loaded, trusted) or weights
file (loaded with ``weights_only=True``), or a recognizer fine-tuned in mmaction2 with ``RGBDViT`` and
``MeanPoolNormHead``. The depth tubelet embedding, modality-specific layers and the decoder are dropped.

What the stock model computes and how the weights map:

* attention: ``qkv`` weight as is; the q and v thirds of the qkv bias become ``q_bias`` / ``v_bias``. The k bias
  is dropped -- adding one vector to every key shifts all logits of a query by the same amount, which the
  softmax ignores -- so the features stay the same.
* position: M3D's fixed space-time sine-cosine table for ``--num-frames`` x ``--img-size``\\ ² becomes a
  learnable ``pos_embed`` (build the stock model with ``use_learnable_pos_emb=True``; its own buffer is a 1-D
  sinusoid over the token index, which M3D never saw). Stock models resize it for other spatial sizes only
  approximately (bicubic) and not at all in time: convert at the clip size you fine-tune and test at.
* pooling: the stock model with ``use_mean_pooling=True`` averages the tokens and applies ``fc_norm``, as
  ``RGBDViT(final_norm=False, out_type='avg_featmap')`` + ``MeanPoolNormHead`` do. A fine-tuned head's
  ``fc_norm`` and ``fc_cls`` become ``backbone.fc_norm`` and a ``TimeSformerHead``'s ``cls_head.fc_cls``. A
  pre-training checkpoint has no ``fc_norm``: it starts as an identity LayerNorm (ones, zeros), exactly as a
  fresh ``MeanPoolNormHead`` does and as VideoMAE fine-tuning does (the encoder's per-token final norm from
  pre-training is not used by either).

    python tools/model_converters/m33d_to_mmaction_vit.py work_dirs/m33d-video_vit-base-p16_8xb24-100e_ucf101-rgbd \\
        checkpoints/m33d_vit-base_mmaction.pth --num-frames 16 --img-size 224

A pre-training source gives backbone keys (load with the backbone's
``init_cfg=dict(type='Pretrained', checkpoint=OUT)``; mmaction2 1.2.0's ``pretrained=`` argument is overwritten
by the default ``init_cfg`` and has no effect; ``--prefix backbone.`` for ``load_from``). A fine-tuned source
gives a whole ``Recognizer3D`` state dict (``backbone.`` and ``cls_head.`` keys) for ``load_from``. The stock
settings are printed and stored under ``meta``.
"""
import importlib.util
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, Optional, Tuple


def _load_sibling(name: str):
    # By file path: tools/ is not a package, and this script must work from any working directory.
    path = osp.join(osp.dirname(osp.abspath(__file__)), f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_m33d_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_parser():
    parser = _load_sibling('stock_vit_args').build_parser(__doc__.split('\n\n')[0])
    parser.add_argument('--num-frames', type=int, default=16, help='frames per clip (default 16)')
    return parser


if __name__ == '__main__':
    build_parser().parse_args()  # --help and usage errors before the stack's imports

import m33d_mm  # noqa: E402,F401  (stack fixes before mmaction imports torchvision)
import torch  # noqa: E402

from m33d_mm.models import RGBDViT  # noqa: E402
from m33d_mm.models.checkpoint import (CheckpointMismatchError, extract_state_dict, fit_to_backbone,  # noqa: E402
                                       infer_rgbd_vit_config, load_trusted_work_dir, load_weights_file,
                                       to_rgbd_vit_keys)

RGB_EMBED = 'patch_embed.rgb.projection.'
HEAD = 'cls_head.'

image_converter = _load_sibling('m33d_to_mmpretrain_vit')


def load_video_encoder(src: str) -> Tuple[RGBDViT, dict, Dict[str, torch.Tensor], dict]:
    """RGB video encoder (an ``RGBDViT`` without final norm) and fine-tuned head of an M3D checkpoint.

    Args:
        src (str): weights file or mmengine work directory.

    Returns:
        tuple: ``(encoder, config, head, report)``: the loaded encoder; the ``RGBDViT`` arguments it was built
        with; ``MeanPoolNormHead`` tensors without the ``cls_head.`` prefix (empty for pre-training checkpoints);
        ``dict(source_format, dropped, non_encoder)``.

    Raises:
        CheckpointMismatchError: naming ``src`` and the keys, if it is not a ViT checkpoint, holds an image
            encoder or one with a class token, lacks encoder weights, or was fine-tuned with a per-token final
            norm.
    """
    checkpoint = load_trusted_work_dir(src) if osp.isdir(src) else load_weights_file(src)
    raw = extract_state_dict(checkpoint)
    try:
        source, fmt = to_rgbd_vit_keys(raw)
        config = infer_rgbd_vit_config(source)
    except KeyError as err:
        raise CheckpointMismatchError(f'{src}: not an M3D / ViT encoder checkpoint ({err})') from err
    if config['tubelet_size'] is None:
        raise CheckpointMismatchError(f'{src} holds an image encoder ({RGB_EMBED}weight is a Conv2d kernel, no '
                                      'tubelets); mmaction2\'s VisionTransformer takes video encoders -- use '
                                      'm33d_to_mmpretrain_vit.py for images')
    if config['with_cls_token']:
        raise CheckpointMismatchError(f'{src}: the encoder has a class token (cls_token); mmaction2\'s VideoMAE '
                                      'VisionTransformer has none -- pre-train video encoders with '
                                      'with_cls_token=False')
    head = OrderedDict((k[len(HEAD):], v) for k, v in raw.items() if k.startswith(HEAD))
    if head and 'ln1.weight' in source:
        raise CheckpointMismatchError(f'{src}: fine-tuned with final_norm=True (ln1.weight present): a per-token '
                                      'norm before pooling has no counterpart in the stock model; fine-tune with '
                                      'RGBDViT(final_norm=False) and MeanPoolNormHead')
    if head and not {'fc_cls.weight', 'fc_cls.bias'} <= set(head):
        raise CheckpointMismatchError(f'{src}: the cls_head keys {sorted(head)[:6]} are not a MeanPoolNormHead\'s '
                                      '(expected fc_cls.weight, fc_cls.bias and optionally fc_norm.*)')
    encoder = RGBDViT(modalities=dict(rgb=3), final_norm=False, **config)
    fitted = fit_to_backbone(encoder, source, src)
    encoder.load_state_dict(fitted, strict=True)
    report = dict(source_format=fmt, dropped=sorted(set(source) - set(fitted) - {'pos_embed'}),
                  non_encoder=len(raw) - len(source) - len(head))
    return encoder.eval(), config, head, report


def to_mmaction_keys(encoder: RGBDViT, head: Dict[str, torch.Tensor], num_frames: int,
                     img_size: int) -> Dict[str, torch.Tensor]:
    """``RGBDViT`` parameters -> mmaction2 ``VisionTransformer`` keys (and ``TimeSformerHead`` keys for a head).

    Returns:
        dict: backbone tensors without prefix; head tensors, when ``head`` is given, under ``cls_head.``.
        ``pos_embed`` is the encoder's own fixed table ``(1, t*h*w, C)`` for ``t = num_frames / tubelet_size``,
        ``h = w = img_size / P``.
    """
    patch_size, tubelet_size = encoder.patch_size, encoder.tubelet_size
    if num_frames % tubelet_size or img_size % patch_size:
        raise ValueError(f'--num-frames {num_frames} must be a multiple of the tubelet size {tubelet_size} and '
                         f'--img-size {img_size} of the patch size {patch_size}')
    out = OrderedDict()
    for key, value in encoder.named_parameters():
        value = value.detach().clone()
        if key.startswith(RGB_EMBED):
            out[key.replace(RGB_EMBED, 'patch_embed.projection.')] = value
            continue
        parts = key.split('.')  # layers.<i>.<module>...
        block, name = f'blocks.{parts[1]}', '.'.join(parts[2:])
        if name == 'attn.qkv.bias':
            q_bias, _, v_bias = value.chunk(3)
            out[f'{block}.attn.q_bias'] = q_bias
            out[f'{block}.attn.v_bias'] = v_bias
            continue
        name = name.replace('ln1.', 'norm1.').replace('ln2.', 'norm2.').replace('ffn.', 'mlp.')
        out[f'{block}.{name}'] = value
    grid = (num_frames // tubelet_size, img_size // patch_size, img_size // patch_size)
    out['pos_embed'] = encoder.pos_embed(grid, 'cpu', torch.float32).clone()
    embed_dims = encoder.embed_dims
    out['fc_norm.weight'] = head.get('fc_norm.weight', torch.ones(embed_dims))
    out['fc_norm.bias'] = head.get('fc_norm.bias', torch.zeros(embed_dims))
    for name in ('weight', 'bias'):
        if f'fc_cls.{name}' in head:
            out[f'{HEAD}fc_cls.{name}'] = head[f'fc_cls.{name}']
    return out


def mmaction_backbone_cfg(config: dict, num_frames: int, img_size: int, num_heads: Optional[int] = None) -> dict:
    """Stock mmaction2 backbone settings under which the converted weights reproduce the M3D encoder."""
    arch = config['arch']
    return dict(type='VisionTransformer', img_size=img_size, patch_size=config['patch_size'],
                embed_dims=arch['embed_dims'], depth=arch['num_layers'], num_heads=num_heads or arch['num_heads'],
                mlp_ratio=arch['feedforward_channels'] / arch['embed_dims'], qkv_bias=True, num_frames=num_frames,
                tubelet_size=config['tubelet_size'], norm_cfg=dict(type='LN', eps=1e-6),
                use_learnable_pos_emb=True, use_mean_pooling=True)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if len(args.img_size) != 1:
        print(f'error: mmaction2\'s VisionTransformer takes square inputs; give one --img-size, got {args.img_size}',
              file=sys.stderr)
        return 1
    img_size = args.img_size[0]
    from mmaction.registry import MODELS
    from mmengine.registry import DefaultScope
    try:
        encoder, config, head, report = load_video_encoder(args.src)
        converted = to_mmaction_keys(encoder, head, args.num_frames, img_size)
        backbone_cfg = mmaction_backbone_cfg(config, args.num_frames, img_size, args.num_heads)
        backbone_keys = OrderedDict((k, v) for k, v in converted.items() if not k.startswith(HEAD))
        with DefaultScope.overwrite_default_scope('mmaction'):  # mmpretrain and mmseg have their own ViT
            stock = MODELS.build(backbone_cfg)
        image_converter.check_loads(stock, backbone_keys, 'mmaction2 VisionTransformer')
    except (CheckpointMismatchError, FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    meta = dict(report, source=args.src, backbone_cfg=backbone_cfg,
                fc_norm='from the fine-tuned head' if 'fc_norm.weight' in head else 'identity (ones, zeros)')
    if head:
        meta['head_cfg'] = dict(type='TimeSformerHead', num_classes=head['fc_cls.weight'].shape[0],
                                in_channels=head['fc_cls.weight'].shape[1])
        state_dict = OrderedDict((k if k.startswith(HEAD) else f'backbone.{k}', v) for k, v in converted.items())
        prefix = ''
    else:
        state_dict, prefix = converted, args.prefix
    image_converter.save(args.dst, state_dict, prefix, meta)
    print(f'  fc_norm: {meta["fc_norm"]}' + (f'\n  stock head: {meta["head_cfg"]}' if head else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
