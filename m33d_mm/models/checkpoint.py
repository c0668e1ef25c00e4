"""Loading encoder weights into :class:`RGBDViT` from M3D, MAE and VideoMAE checkpoints.

Formats are recognised by their keys:

* ``m33d``: this project's own (``backbone.patch_embed.rgb.projection...`` or without ``backbone.``),
* ``mmpretrain``: mmpretrain ``MAE`` / ``VisionTransformer`` (``backbone.layers.i...``, ``patch_embed.projection``),
* ``timm``: official MAE / timm release (``blocks.i.attn.qkv``, ``patch_embed.proj``) and VideoMAE release
  checkpoints (``encoder.`` prefix, ``q_bias`` / ``v_bias`` instead of a qkv bias).

Encoder weights that are missing after conversion are an error (naming the keys and the file); the only
tolerated gaps are documented initialisations:

* the depth patch embedding when the source has RGB only: the RGB kernel averaged over its input channels
  (a depth map seen as a grey image gets the response the RGB kernel gives a grey image), RGB bias;
* modality-specific encoder copies (``modality_layers``/``modality_norms``): copies of the shared layers;
* the norm of pooled features (``ln2``, ``out_type='avg_featmap'``) when the source has none, as in every
  pre-training checkpoint: it keeps its fresh identity LayerNorm, where VideoMAE fine-tuning starts its
  ``fc_norm``;
* position embeddings are fixed sine-cosine tables in M3D and are never loaded as weights, but their layout
  is: MAE's release, mmpretrain and VideoMAE lay the table out differently, and the encoder keeps the one its
  weights were trained with (``RGBDViT.pos_layout_code``, detected from the checkpoint's ``pos_embed``).

Every file is read with ``torch.load(weights_only=True)`` and an allow-list of the objects mmengine's own
checkpoints hold (:func:`load_checkpoint_file`), so nothing in a file runs; a directory is taken to be an
mmengine work directory and its newest complete checkpoint is loaded. ``http(s)://`` URLs are read as mmengine's
loaders read them.
"""
import io
import os
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import Dict, Tuple

import torch

TIMM_RENAMES = [
    (r'^patch_embed\.proj\.', 'patch_embed.rgb.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.attn\.', r'layers.\1.attn.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
    (r'^norm\.', 'ln1.'),
    (r'^fc_norm\.', 'ln1.'),
]


# Recognizers fine-tuned with the former MeanPoolNormHead hold the pooled-feature norm under the first prefix; it is
# now the encoder's (RGBDViT ``out_type='avg_featmap'``), under the second.
FORMER_POOL_NORM = ('cls_head.fc_norm.', 'backbone.ln2.')


class CheckpointMismatchError(KeyError):
    """A checkpoint does not fit the model; the message names the file and keys."""

    def __str__(self):
        return str(self.args[0])


class CheckpointLoadError(CheckpointMismatchError):
    """A file cannot be loaded as a checkpoint (not one, damaged, or needing objects outside the allow-list)."""


# Opt-in for files whose pickled objects the user trusts: this variable (paths separated by ``os.pathsep``), set
# by the tools' ``--trust-checkpoint FILE``; the environment carries it to launcher-started processes. Every other
# file is loaded with weights_only=True.
TRUST_ENV = 'M33D_TRUSTED_CHECKPOINTS'


def trust_checkpoint(path: str) -> None:
    """Allow ``path`` to be fully unpickled (it may then run code: only for files you wrote or trust)."""
    listed = [p for p in os.environ.get(TRUST_ENV, '').split(os.pathsep) if p]
    os.environ[TRUST_ENV] = os.pathsep.join(listed + [osp.realpath(osp.expanduser(path))])


def is_trusted(path: str) -> bool:
    listed = {osp.realpath(osp.expanduser(p)) for p in os.environ.get(TRUST_ENV, '').split(os.pathsep) if p}
    return osp.realpath(osp.expanduser(path)) in listed


def _history_buffer_attribute(owner, name: str):
    """The one ``getattr`` mmengine checkpoints need: a ``HistoryBuffer`` statistics method, nothing else."""
    from mmengine.logging import HistoryBuffer
    # the built-in statistics are registered on the first HistoryBuffer made; registered ones are listed already
    if owner is HistoryBuffer and name in {'min', 'max', 'current', 'mean', *HistoryBuffer._statistics_methods}:
        return getattr(owner, name)
    raise pickle.UnpicklingError(f'getattr({owner!r}, {name!r}) is not a HistoryBuffer statistic')


def checkpoint_globals() -> list:
    """Globals beyond tensors and plain containers that mmengine's own checkpoints hold.

    ``HistoryBuffer`` (the message hub's logged values, with its statistics methods referenced by name), numpy
    arrays, scalars and dtypes (logged values, ``np.random`` states) and ``collections.OrderedDict``. None of
    them runs code while being rebuilt.
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer
    multiarray = getattr(np, '_core', None) or np.core
    dtypes = [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith('DType')]
    return [HistoryBuffer, OrderedDict, np.ndarray, np.dtype, multiarray.multiarray._reconstruct,
            multiarray.multiarray.scalar, (_history_buffer_attribute, 'builtins.getattr')] + dtypes


def _reason(err: Exception) -> str:
    # torch's message is long and decorated; keep the line that names what was refused
    text = re.sub(r'\x1b\[[0-9;]*m', '', str(err))
    text = text.split('WeightsUnpickler error:', 1)[-1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    named = [line for line in lines if 'Unsupported global' in line or 'GLOBAL' in line or 'Can only build' in line]
    return f'{type(err).__name__}: ' + ((named or lines or ['the file ends early'])[0][:300])


def load_checkpoint_file(path: str, map_location='cpu'):
    """Load a checkpoint (a local file or an ``http(s)://`` URL) without running code from it.

    ``torch.load(weights_only=True)`` with :func:`checkpoint_globals` allowed: tensors, plain containers and what
    mmengine writes. Anything else -- a pickled object, a file that is no checkpoint (random bytes, an image,
    an empty file, a pickled list) -- raises :class:`CheckpointLoadError` naming the file. Files opted in with
    :func:`trust_checkpoint` or ``M33D_TRUSTED_CHECKPOINTS`` are fully unpickled.
    """
    source = path
    if path.startswith(('http://', 'https://')):
        from mmengine.fileio import get
        try:
            source = io.BytesIO(get(path))
        except Exception as err:  # urllib raises URLError / HTTPError / OSError
            raise CheckpointLoadError(f'{path}: cannot download the checkpoint ({type(err).__name__}: {err})') \
                from None
    elif not osp.isfile(osp.expanduser(path)):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    elif not osp.getsize(osp.expanduser(path)):
        raise CheckpointLoadError(f'{path} is not a checkpoint file (it is empty, 0 bytes); expected a file written '
                                  'by torch.save (an mmengine checkpoint or a dict of tensors)')
    else:
        source = osp.expanduser(path)
    try:
        if isinstance(source, str) and is_trusted(source):
            # the user trusts this file explicitly (--trust-checkpoint / M33D_TRUSTED_CHECKPOINTS): full unpickling
            checkpoint = torch.load(source, map_location=map_location, weights_only=False)
        else:
            with torch.serialization.safe_globals(checkpoint_globals()):
                checkpoint = torch.load(source, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError or EOFError depending on the damage
        reason = _reason(err)
        if 'GLOBAL' in reason or 'global' in reason or 'Can only build' in reason:
            raise CheckpointLoadError(
                f'{path} cannot be loaded as a plain weights file ({reason}); checkpoints are loaded with '
                'weights_only=True and only the objects mmengine checkpoints hold. If you trust this file, opt in '
                f'with --trust-checkpoint {path} (tools/train.py, tools/test.py) or {TRUST_ENV}={path}') from None
        raise CheckpointLoadError(f'{path} is not a checkpoint file ({reason}); expected a file written by '
                                  'torch.save (an mmengine checkpoint or a dict of tensors)') from None
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get('meta'), dict):
        # mmengine's resume parses meta['config'] as a Python config, i.e. runs it; mmengine itself writes 'cfg'
        checkpoint['meta'].pop('config', None)
    if not isinstance(checkpoint, dict):
        raise CheckpointLoadError(f'{path} is not a checkpoint: it holds a {type(checkpoint).__name__}, expected a '
                                  'dict of tensors or an mmengine checkpoint (state_dict, meta, ...)')
    return checkpoint


def load_weights_file(path: str) -> dict:
    """Load a third-party or converted weights file safely (see :func:`load_checkpoint_file`)."""
    return load_checkpoint_file(path)


def load_trusted_work_dir(work_dir: str) -> dict:
    """Last complete checkpoint of an mmengine work directory, loaded as safely as any other file."""
    from m33d_mm.engine.checkpoint import latest_checkpoint
    path = latest_checkpoint(work_dir)
    if path is None:
        raise FileNotFoundError(f'{work_dir} is not an mmengine work directory with a checkpoint '
                                f'(no complete *.pth file and no last_checkpoint)')
    return load_checkpoint_file(path)


def extract_state_dict(checkpoint: dict) -> Dict[str, torch.Tensor]:
    for key in ('state_dict', 'model', 'module'):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            return checkpoint[key]
    return checkpoint


def detect_format(state_dict: Dict[str, torch.Tensor]) -> str:
    keys = list(state_dict)
    if any(re.match(r'^(backbone\.)?patch_embed\.\w+\.projection\.', k) for k in keys):
        return 'm33d'
    if any(re.match(r'^(backbone\.)?layers\.\d+\.', k) for k in keys):
        return 'mmpretrain'
    if any(re.match(r'^(encoder\.)?blocks\.\d+\.', k) for k in keys):
        return 'timm'
    raise CheckpointMismatchError('unrecognised checkpoint: expected M3D, mmpretrain ViT/MAE or timm/MAE/VideoMAE '
                                  f'keys, found e.g. {keys[:5]}')


def to_rgbd_vit_keys(state_dict: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], str]:
    """Rename an encoder state dict of any known format to :class:`RGBDViT` keys (decoders dropped)."""
    fmt = detect_format(state_dict)
    out = OrderedDict()
    if fmt == 'm33d':
        has_prefix = any(k.startswith('backbone.') for k in state_dict)
        for key, value in state_dict.items():
            if has_prefix:
                if key.startswith('backbone.'):
                    out[key[len('backbone.'):]] = value
            else:
                out[key] = value
    elif fmt == 'mmpretrain':
        has_prefix = any(k.startswith('backbone.') for k in state_dict)
        for key, value in state_dict.items():
            if has_prefix:
                if not key.startswith('backbone.'):
                    continue
                key = key[len('backbone.'):]
            if key.startswith('patch_embed.projection.'):
                key = key.replace('patch_embed.projection.', 'patch_embed.rgb.projection.')
            out[key] = value
    else:
        has_prefix = any(k.startswith('encoder.') for k in state_dict)
        q_bias, v_bias = {}, {}
        for key, value in state_dict.items():
            if has_prefix:
                if not key.startswith('encoder.'):
                    continue
                key = key[len('encoder.'):]
            if key.startswith(('decoder', 'mask_token', 'head')):
                continue
            match = re.match(r'^blocks\.(\d+)\.attn\.([qv])_bias$', key)
            if match:
                (q_bias if match.group(2) == 'q' else v_bias)[match.group(1)] = value
                continue
            for pattern, repl in TIMM_RENAMES:
                key = re.sub(pattern, repl, key)
            out[key] = value
        for idx, q in q_bias.items():
            # VideoMAE has no key bias; a zero key bias gives the same attention (it shifts all logits of a
            # query equally).
            out[f'layers.{idx}.attn.qkv.bias'] = torch.cat([q, torch.zeros_like(q), v_bias[idx]])
    return out, fmt


def fit_to_backbone(backbone, source: Dict[str, torch.Tensor], origin: str) -> Dict[str, torch.Tensor]:
    """Complete ``source`` for ``backbone`` with the documented initialisations; error on real gaps."""
    target = backbone.state_dict()
    fitted = OrderedDict()
    primary_embed = f'patch_embed.{backbone.primary}.projection.'
    for key, expected in target.items():
        value = source.get(key)
        if key == 'pos_layout_code' and value is None:
            value = _pos_layout_code(backbone, source, origin)
        if value is None and key.startswith('patch_embed.') and not key.startswith(primary_embed):
            rgb = source.get(primary_embed + key.rsplit('.', 1)[-1])
            if rgb is not None and key.endswith('weight'):
                value = rgb.mean(dim=1, keepdim=True).expand(-1, expected.shape[1], *rgb.shape[2:]).clone()
            elif rgb is not None:
                value = rgb.clone()
        if value is None and key.startswith(('modality_layers.', 'modality_norms.')):
            shared = re.sub(r'^modality_layers\.\w+\.', 'layers.', key)
            shared = re.sub(r'^modality_norms\.\w+\.', 'ln1.', shared)
            value = source.get(shared)
        if value is None and key.startswith('ln2.'):
            value = expected.clone()
        if value is not None and value.dim() == 4 and expected.dim() == 5:
            # 2-D image kernel into a Conv3d tubelet: spread over time so a static clip gives the image response.
            value = value[:, :, None].expand(-1, -1, expected.shape[2], -1, -1) / expected.shape[2]
        if value is None:
            continue
        if tuple(value.shape) != tuple(expected.shape):
            raise CheckpointMismatchError(f'{origin}: "{key}" has shape {tuple(value.shape)}, the model expects '
                                          f'{tuple(expected.shape)} (wrong architecture?)')
        fitted[key] = value
    missing = [k for k in target if k not in fitted]
    if missing:
        raise CheckpointMismatchError(f'{origin}: encoder weights missing for {len(missing)} keys, e.g. '
                                      f'{missing[:6]} -- is this a checkpoint of a different model?')
    return fitted


def _pos_layout_code(backbone, source: Dict[str, torch.Tensor], origin: str) -> torch.Tensor:
    from mmengine.logging import MMLogger

    from .utils import POS_LAYOUTS, detect_pos_layout
    layout = backbone.pos_embed_layout
    if 'pos_embed' in source:
        detected = detect_pos_layout(source['pos_embed'], backbone.embed_dims)
        if detected is None:
            MMLogger.get_current_instance().warning(
                f'{origin}: pos_embed is not a fixed sin-cos table M3D knows (learned?); the encoder keeps its '
                f'"{layout}" sin-cos table, so the loaded layers see other position codes than in training')
        else:
            layout = detected
    return torch.tensor(POS_LAYOUTS.index(layout))


def unused_keys(source: Dict[str, torch.Tensor], fitted: Dict[str, torch.Tensor]):
    """Source keys that went nowhere (``pos_embed`` counts as used: it decides the position layout)."""
    return sorted(set(source) - set(fitted) - {'pos_embed'})


def load_pretrained(backbone, path: str, logger=None) -> Dict[str, str]:
    """Load ``path`` (file or trusted work directory) into ``backbone``; returns a short report."""
    if '://' not in path and osp.isdir(path):
        checkpoint = load_trusted_work_dir(path)
    else:
        checkpoint = load_weights_file(path)
    source, fmt = to_rgbd_vit_keys(extract_state_dict(checkpoint))
    fitted = fit_to_backbone(backbone, source, path)
    backbone.load_state_dict(fitted, strict=True)
    unused = unused_keys(source, fitted)
    report = dict(path=path, format=fmt, loaded=str(len(fitted)), unused=', '.join(unused[:10]))
    if logger is None:
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
    logger.info(f'RGBDViT: loaded {len(fitted)} tensors from {path} ({fmt} format, '
                f'"{backbone.pos_embed_layout}" position table)'
                + (f'; unused: {unused[:10]}' if unused else ''))
    return report


def infer_rgbd_vit_config(state_dict: Dict[str, torch.Tensor]) -> dict:
    """``RGBDViT`` keyword arguments that fit an encoder state dict in ``RGBDViT`` keys.

    The number of attention heads leaves no trace in the weights; ``embed_dims // 64`` (the ViT convention)
    is used, which only matters for running the model, not for converting weights.
    """
    weight = state_dict.get('patch_embed.rgb.projection.weight')
    if weight is None:
        raise CheckpointMismatchError('no RGB patch embedding (patch_embed.rgb.projection.weight) in the weights')
    layers = {int(k.split('.')[1]) for k in state_dict if k.startswith('layers.')}
    embed_dims = weight.shape[0]
    arch = dict(embed_dims=embed_dims, num_layers=len(layers), num_heads=max(1, embed_dims // 64),
                feedforward_channels=state_dict['layers.0.ffn.layers.0.0.weight'].shape[0])
    return dict(arch=arch, patch_size=weight.shape[-1], tubelet_size=weight.shape[2] if weight.dim() == 5 else None,
                with_cls_token='cls_token' in state_dict)


def check_model_checkpoint(model: torch.nn.Module, path: str) -> None:
    """Refuse a whole-model checkpoint (``load_from``, ``--resume``, ``tools/test.py``) that does not fit ``model``.

    mmengine loads such files non-strictly: a checkpoint of another model only produces a warning, and training
    or evaluation then goes on with part of the model at random. This raises :class:`CheckpointMismatchError`,
    naming the file and keys, when any tensor of the model is missing from the file or has another shape there.
    Extra tensors in the file are fine. Initialising only the encoder is ``model.backbone.pretrained``'s job.
    """
    from mmengine.model import is_model_wrapper
    if is_model_wrapper(model):
        model = model.module
    checkpoint = load_checkpoint_file(path)
    source = {re.sub(r'^module\.', '', k): v for k, v in extract_state_dict(checkpoint).items()}
    # buffers the model recomputes (fixed position tables) are never required
    target = {k: v for k, v in model.state_dict().items() if not k.endswith('pos_embed')}
    shapes = [f'{k}: file {tuple(source[k].shape)}, model {tuple(v.shape)}' for k, v in target.items()
              if k in source and hasattr(source[k], 'shape') and tuple(source[k].shape) != tuple(v.shape)]
    missing = [k for k in target if k not in source]
    hint = (' It looks like a checkpoint of another model or config; to initialise only the encoder from a '
            'pre-training run use model.backbone.pretrained instead of load_from.')
    if shapes:
        raise CheckpointMismatchError(f'{path} does not fit the model of this config: {len(shapes)} tensors differ '
                                      f'in shape, e.g. {shapes[:3]}.' + hint)
    former, now = FORMER_POOL_NORM
    if any(k.startswith(now) and former + k[len(now):] in source for k in missing):
        hint = (' The file is of a recognizer fine-tuned with the former MeanPoolNormHead, whose norm of the pooled '
                f'features is now the backbone\'s (out_type="avg_featmap"): rename its keys {former}* to {now}*.')
    if missing:
        raise CheckpointMismatchError(
            f'{path} does not fit the model of this config: {len(missing)} of its {len(target)} tensors are '
            f'missing from the file, e.g. {missing[:5]}; the file holds e.g. {list(source)[:5]}.' + hint)
