"""M3D encoder -> stock OpenMMLab ViT (mmpretrain, mmseg, mmaction2): the logic behind
``tools/model_converters/m33d_to_*_vit.py``.

Every conversion reads an M3D checkpoint (a weights file, loaded with ``weights_only=True``, or the work
directory of one of your own runs, whose last checkpoint is loaded trusted), rebuilds the RGB encoder as an
``RGBDViT`` with ``modalities=dict(rgb=3)`` (the depth embedding, modality-specific layers and the decoder are
dropped), renames its parameters to the stock class's keys, fills the stock learnable ``pos_embed`` with the
encoder's fixed sine-cosine table for the requested input size, checks that the stock backbone loads the result
without missing or unexpected keys and saves ``{'state_dict', 'meta'}``. :func:`convert_cli` is the whole command
line behaviour of the three tools.
"""
import os
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch

from ..models.backbones.rgbd_vit import RGBDViT
from ..models.checkpoint import (FORMER_POOL_NORM, CheckpointMismatchError, extract_state_dict, fit_to_backbone,
                                 infer_rgbd_vit_config, load_trusted_work_dir, load_weights_file, to_rgbd_vit_keys,
                                 unused_keys)

RGB_EMBED = 'patch_embed.rgb.projection.'
HEAD = 'cls_head.'
MMSEG_RENAMES = [
    (r'^layers\.(\d+)\.attn\.qkv\.(weight|bias)$', r'layers.\1.attn.attn.in_proj_\2'),
    (r'^layers\.(\d+)\.attn\.proj\.', r'layers.\1.attn.attn.out_proj.'),
]


def _read_encoder(src: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor], str, dict]:
    """``(raw state dict, encoder tensors in RGBDViT keys, source format, RGBDViT arguments)`` of ``src``."""
    checkpoint = load_trusted_work_dir(src) if osp.isdir(src) else load_weights_file(src)
    raw = extract_state_dict(checkpoint)
    try:
        source, fmt = to_rgbd_vit_keys(raw)
        config = infer_rgbd_vit_config(source)
    except KeyError as err:
        raise CheckpointMismatchError(f'{src}: not a complete M3D / ViT encoder checkpoint ({err})') from err
    return raw, source, fmt, config


def _fill(encoder: RGBDViT, source: Dict[str, torch.Tensor], src: str) -> Dict[str, torch.Tensor]:
    fitted = fit_to_backbone(encoder, source, src)
    encoder.load_state_dict(fitted, strict=True)
    return fitted


def load_rgb_encoder(src: str) -> Tuple[RGBDViT, dict, dict]:
    """The RGB image encoder of an M3D checkpoint.

    Args:
        src (str): weights file or mmengine work directory of an M3D run.

    Returns:
        tuple: ``(encoder, config, report)``: an ``RGBDViT`` with ``modalities=dict(rgb=3)`` holding the weights
        (and the position-table layout they were trained with), the ``RGBDViT`` arguments it was built with (see
        :func:`~m33d_mm.models.checkpoint.infer_rgbd_vit_config`) and ``dict(source_format, dropped,
        non_encoder)``: the encoder tensors not converted (other modalities) and the number of tensors outside
        the encoder (decoder, heads).

    Raises:
        CheckpointMismatchError: if ``src`` is not an M3D / ViT checkpoint, holds a video encoder or lacks
            encoder weights (named).
    """
    raw, source, fmt, config = _read_encoder(src)
    if config['tubelet_size'] is not None:
        raise CheckpointMismatchError(f'{src} holds a video encoder (Conv3d tubelet patch embedding); stock '
                                      'image ViTs cannot take it (use m33d_to_mmaction_vit.py)')
    encoder = RGBDViT(modalities=dict(rgb=3), **config)
    fitted = _fill(encoder, source, src)
    report = dict(source_format=fmt, dropped=unused_keys(source, fitted), non_encoder=len(raw) - len(source),
                  pos_embed_layout=encoder.pos_embed_layout)
    return encoder.eval(), config, report


def load_video_encoder(src: str) -> Tuple[RGBDViT, dict, Dict[str, torch.Tensor], dict]:
    """RGB video encoder (an ``RGBDViT`` without final norm, pooling with ``ln2``) and fine-tuned head.

    Args:
        src (str): weights file or mmengine work directory: a video pre-training run, or a ``Recognizer3D``
            fine-tuned with ``RGBDViT(out_type='avg_featmap')`` and a ``TimeSformerHead`` (or the former
            ``MeanPoolNormHead``, whose ``fc_norm`` becomes the encoder's ``ln2``).

    Returns:
        tuple: ``(encoder, config, head, report)``: the loaded encoder; the ``RGBDViT`` arguments it was built
        with (besides ``out_type='avg_featmap'``, ``final_norm=False``); the head's ``fc_cls`` tensors without the
        ``cls_head.`` prefix (empty for pre-training checkpoints); ``dict(source_format, dropped, non_encoder,
        fc_norm)``.

    Raises:
        CheckpointMismatchError: naming ``src`` and the keys, if it is not a ViT checkpoint, holds an image
            encoder or one with a class token, lacks encoder weights, or was fine-tuned with a per-token final
            norm.
    """
    raw, source, fmt, config = _read_encoder(src)
    if config['tubelet_size'] is None:
        raise CheckpointMismatchError(f'{src} holds an image encoder ({RGB_EMBED}weight is a Conv2d kernel, no '
                                      'tubelets); mmaction2\'s VisionTransformer takes video encoders -- use '
                                      'm33d_to_mmpretrain_vit.py for images')
    if config['with_cls_token']:
        raise CheckpointMismatchError(f'{src}: the encoder has a class token (cls_token); mmaction2\'s VideoMAE '
                                      'VisionTransformer has none -- pre-train video encoders with '
                                      'with_cls_token=False')
    head = OrderedDict((k[len(HEAD):], v) for k, v in raw.items() if k.startswith(HEAD))
    non_encoder = len(raw) - len(source) - len(head)
    if head and 'ln1.weight' in source:
        raise CheckpointMismatchError(f'{src}: fine-tuned with final_norm=True (ln1.weight present): a per-token '
                                      'norm before pooling has no counterpart in the stock model; fine-tune with '
                                      'RGBDViT(final_norm=False, out_type="avg_featmap")')
    former, now = (prefix.split('.', 1)[1] for prefix in FORMER_POOL_NORM)  # without cls_head. / backbone.
    for name in ('weight', 'bias'):
        if former + name in head and now + name not in source:
            source[now + name] = head.pop(former + name)
    if head and set(head) != {'fc_cls.weight', 'fc_cls.bias'}:
        raise CheckpointMismatchError(f'{src}: the cls_head keys {sorted(head)[:6]} are not a TimeSformerHead\'s '
                                      '(expected fc_cls.weight and fc_cls.bias)')
    encoder = RGBDViT(modalities=dict(rgb=3), final_norm=False, out_type='avg_featmap', **config)
    fitted = _fill(encoder, source, src)
    report = dict(source_format=fmt, dropped=unused_keys(source, fitted), non_encoder=non_encoder,
                  fc_norm='fine-tuned' if 'ln2.weight' in source else 'identity (ones, zeros)')
    return encoder.eval(), config, head, report


def to_mmpretrain_keys(encoder: RGBDViT, img_size: Sequence[int]) -> Dict[str, torch.Tensor]:
    """``RGBDViT`` RGB-encoder parameters -> mmpretrain ``VisionTransformer`` keys, with a ``pos_embed``.

    Args:
        encoder: output of :func:`load_rgb_encoder`.
        img_size: ``(H, W)`` the stock backbone is built with; multiples of the patch size.

    Returns:
        dict: tensors named as in mmpretrain; ``pos_embed`` ``(1, [1 +] h*w, C)`` is the encoder's own fixed
        table for the ``(H/P, W/P)`` grid, after a zero class-token slot when the encoder has a class token (M3D
        gives the class token no position).
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


def to_mmseg_keys(encoder: RGBDViT, img_size: Sequence[int]) -> Dict[str, torch.Tensor]:
    """``RGBDViT`` RGB-encoder parameters -> mmseg ``VisionTransformer`` keys, with a ``pos_embed`` (cls slot
    first).

    mmseg names attention ``attn.attn.in_proj_*`` / ``attn.attn.out_proj`` (the same q, k, v layout as
    mmpretrain's ``qkv``) and always holds a class token; an encoder without one gets a zero token (mmseg drops
    it again with ``with_cls_token=False``).
    """
    out = OrderedDict()
    for key, value in to_mmpretrain_keys(encoder, img_size).items():
        for pattern, repl in MMSEG_RENAMES:
            key = re.sub(pattern, repl, key)
        out[key] = value
    if 'cls_token' not in out:
        embed_dims = out['pos_embed'].shape[-1]
        out['cls_token'] = torch.zeros(1, 1, embed_dims)
        out['pos_embed'] = torch.cat([out['pos_embed'].new_zeros(1, 1, embed_dims), out['pos_embed']], dim=1)
    return out


def to_mmaction_keys(encoder: RGBDViT, head: Dict[str, torch.Tensor], num_frames: int,
                     img_size: int) -> Dict[str, torch.Tensor]:
    """``RGBDViT`` parameters -> mmaction2 ``VisionTransformer`` keys (and ``TimeSformerHead`` keys for a head).

    The q and v thirds of the qkv bias become ``q_bias`` / ``v_bias``; the k bias is dropped (adding one vector to
    every key shifts all logits of a query equally, which the softmax ignores).

    Returns:
        dict: backbone tensors without prefix; head tensors, when ``head`` is given, under ``cls_head.``.
        ``pos_embed`` is the encoder's own fixed table ``(1, t*h*w, C)`` for ``t = num_frames / tubelet_size``,
        ``h = w = img_size / P``. ``fc_norm`` is the encoder's ``ln2``.
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
        if key.startswith('ln2.'):
            out[key.replace('ln2.', 'fc_norm.')] = value
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
    for name in ('weight', 'bias'):
        if f'fc_cls.{name}' in head:
            out[f'{HEAD}fc_cls.{name}'] = head[f'fc_cls.{name}']
    return out


def mmpretrain_backbone_cfg(config: dict, img_size: Sequence[int], num_heads: Optional[int] = None) -> dict:
    """Stock mmpretrain backbone settings under which the converted weights reproduce ``RGBDViT``.

    ``out_type`` / ``out_indices`` are left to the downstream config ('featmap' gives ``RGBDViT``'s output).
    """
    arch = dict(config['arch'], num_heads=num_heads or config['arch']['num_heads'])
    return dict(type='VisionTransformer', arch=arch, img_size=tuple(img_size), patch_size=config['patch_size'],
                qkv_bias=True, with_cls_token=config['with_cls_token'], final_norm=True,
                norm_cfg=dict(type='LN', eps=1e-6))


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


def mmaction_backbone_cfg(config: dict, num_frames: int, img_size: int, num_heads: Optional[int] = None) -> dict:
    """Stock mmaction2 backbone settings under which the converted weights reproduce the M3D encoder."""
    arch = config['arch']
    return dict(type='VisionTransformer', img_size=img_size, patch_size=config['patch_size'],
                embed_dims=arch['embed_dims'], depth=arch['num_layers'], num_heads=num_heads or arch['num_heads'],
                mlp_ratio=arch['feedforward_channels'] / arch['embed_dims'], qkv_bias=True, num_frames=num_frames,
                tubelet_size=config['tubelet_size'], norm_cfg=dict(type='LN', eps=1e-6),
                use_learnable_pos_emb=True, use_mean_pooling=True)


def check_loads(model: torch.nn.Module, state_dict: Dict[str, torch.Tensor], what: str):
    """Raise if ``state_dict`` leaves keys of ``model`` missing or has keys it does not know."""
    result = model.load_state_dict(state_dict, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointMismatchError(f'converted weights do not fit {what}: missing {result.missing_keys[:8]}, '
                                      f'unexpected {result.unexpected_keys[:8]}')


def save(dst: str, state_dict: Dict[str, torch.Tensor], prefix: str, meta: dict):
    """Write ``{'state_dict', 'meta'}`` (missing folders are created) and print what was converted."""
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(dict(state_dict=OrderedDict((prefix + k, v) for k, v in state_dict.items()), meta=meta), dst)
    print(f'{meta["source"]} ({meta["source_format"]}) -> {dst}: {len(state_dict)} tensors\n'
          f'  not converted: {meta["dropped"] or "none"} and {meta["non_encoder"]} non-encoder tensors\n'
          f'  stock backbone: {meta["backbone_cfg"]}')


def _build_stock(framework: str, cfg: dict) -> torch.nn.Module:
    # _scope_: the stock class even where another default scope is active (tests, notebooks); mmpretrain,
    # mmseg and mmaction2 each have a VisionTransformer of their own
    if framework == 'mmpretrain':
        from mmpretrain.registry import MODELS
    elif framework == 'mmseg':
        from mmseg.registry import MODELS
    else:
        from mmaction.registry import MODELS
    return MODELS.build(dict(cfg, _scope_=framework))


def _convert_image(framework: str, args) -> Tuple[Dict[str, torch.Tensor], str, dict]:
    if len(args.img_size) not in (1, 2):
        raise ValueError(f'--img-size takes one or two values, got {args.img_size}')
    img_size = (args.img_size[0], args.img_size[-1])
    encoder, config, report = load_rgb_encoder(args.src)
    to_keys, backbone_cfg = ((to_mmpretrain_keys, mmpretrain_backbone_cfg) if framework == 'mmpretrain' else
                             (to_mmseg_keys, mmseg_backbone_cfg))
    converted = to_keys(encoder, img_size)
    cfg = backbone_cfg(config, img_size, args.num_heads)
    check_loads(_build_stock(framework, cfg), converted, f'{framework} VisionTransformer')
    return converted, args.prefix, dict(report, source=args.src, backbone_cfg=cfg)


def _convert_video(args) -> Tuple[Dict[str, torch.Tensor], str, dict]:
    if len(args.img_size) != 1:
        raise ValueError(f'mmaction2\'s VisionTransformer takes square inputs; give one --img-size, got '
                         f'{args.img_size}')
    img_size = args.img_size[0]
    encoder, config, head, report = load_video_encoder(args.src)
    converted = to_mmaction_keys(encoder, head, args.num_frames, img_size)
    cfg = mmaction_backbone_cfg(config, args.num_frames, img_size, args.num_heads)
    backbone_keys = OrderedDict((k, v) for k, v in converted.items() if not k.startswith(HEAD))
    check_loads(_build_stock('mmaction', cfg), backbone_keys, 'mmaction2 VisionTransformer')
    meta = dict(report, source=args.src, backbone_cfg=cfg)
    if not head:
        return converted, args.prefix, meta
    # a fine-tuned recognizer: a whole Recognizer3D state dict for load_from
    meta['head_cfg'] = dict(type='TimeSformerHead', num_classes=head['fc_cls.weight'].shape[0],
                            in_channels=head['fc_cls.weight'].shape[1])
    return OrderedDict((k if k.startswith(HEAD) else f'backbone.{k}', v) for k, v in converted.items()), '', meta


def convert_cli(framework: str, args) -> int:
    """What ``tools/model_converters/m33d_to_<framework>_vit.py`` does with its parsed arguments.

    Args:
        framework (str): 'mmpretrain', 'mmseg' or 'mmaction'.
        args: ``src``, ``dst``, ``img_size`` (list), ``num_heads``, ``prefix`` and, for 'mmaction',
            ``num_frames``.

    Returns:
        int: 0 when ``dst`` was written; 1 after printing the reason to stderr (nothing written).
    """
    if framework not in ('mmpretrain', 'mmseg', 'mmaction'):
        raise ValueError(f'framework must be "mmpretrain", "mmseg" or "mmaction", got {framework!r}')
    try:
        state_dict, prefix, meta = _convert_video(args) if framework == 'mmaction' else _convert_image(
            framework, args)
    except (CheckpointMismatchError, FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    save(args.dst, state_dict, prefix, meta)
    if framework == 'mmaction':
        head = f'\n  stock head: {meta["head_cfg"]}' if 'head_cfg' in meta else ''
        print(f'  fc_norm: {meta["fc_norm"]}{head}')
    return 0
