"""The M3D RGB-D Vision Transformer encoder (images and video)."""
import math
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from einops import rearrange
from mmengine.model import BaseModule
from mmpretrain.models.backbones.vision_transformer import TransformerEncoderLayer, VisionTransformer
from mmpretrain.registry import MODELS

from ..utils import (POS_LAYOUTS, MaskedEncoding, gather_tokens, init_linear_and_norm, keep_ids_to_mask,
                     random_keep_ids, sincos_pos_embed)

# mmpretrain's names and meanings ('small' is 768-d / 8 layers there; the 384-d / 12-layer ViT-S is 'deit-small')
ARCHS = VisionTransformer.arch_zoo
RENAMED_ARCHS = {'tiny': 'deit-tiny', 't': 'deit-tiny'}


class ModalityPatchEmbed(nn.Module):
    """Linear patch projection of one modality: Conv2d for images, Conv3d tubelets for video."""

    def __init__(self, in_channels: int, embed_dims: int, patch_size: int, tubelet_size: Optional[int]):
        super().__init__()
        if tubelet_size is None:
            self.projection = nn.Conv2d(in_channels, embed_dims, patch_size, stride=patch_size)
        else:
            kernel = (tubelet_size, patch_size, patch_size)
            self.projection = nn.Conv3d(in_channels, embed_dims, kernel, stride=kernel)

    def forward(self, x: torch.Tensor):
        """``(B, C, [T,] H, W)`` -> tokens ``(B, N, D)`` and their grid ``(h, w)`` or ``(t, h, w)``."""
        x = self.projection(x)
        return x.flatten(2).transpose(1, 2), tuple(x.shape[2:])


@MODELS.register_module()
class RGBDViT(BaseModule):
    """Multi-modal ViT encoder of M3D (Sec. 3.1).

    Each modality has its own linear patch projection (Conv2d, or Conv3d tubelets when ``tubelet_size`` is
    set) and fixed sine-cosine position embeddings; tokens go through one shared transformer or through
    modality-specific transformers. Transformer layers are mmpretrain's ``TransformerEncoderLayer``
    (``F.scaled_dot_product_attention``) under the same names as mmpretrain's ``VisionTransformer``
    (``layers.i``, ``ln1``), so the RGB path converts to stock backbones by renaming a few keys.

    Three entry points:

    * :meth:`forward` -- RGB only, no masking: multi-level features for downstream heads.
    * :meth:`forward_mim` -- masked multi-modal pass for masked RGB-D modelling (eqs. 1-2): visible tokens
      are drawn by ``masking`` (by default each modality with its own ratio); with a shared encoder and
      ``cross_modal_attention`` the visible tokens of all modalities attend to each other in one sequence
      (MultiMAE).
    * :meth:`forward_modalities` -- every modality encoded as its own sequence (no attention across
      modalities) for the cross-modal losses (eqs. 3-4), so a patch cannot find its positive by attending to
      the other modality's token at the same place.

    Args:
        arch (str | dict): a name of mmpretrain's ``VisionTransformer.arch_zoo``, with its meaning there
            ('base' / 'b': ViT-B, 'large', 'huge', 'deit-tiny', 'deit-small' (384-d, 12 layers), ...; note that
            mmpretrain's 'small' is 768-d with 8 layers), or a dict with ``embed_dims``, ``num_layers``,
            ``num_heads``, ``feedforward_channels``.
        modalities (dict): modality name -> input channels. The first one is the downstream input.
        patch_size (int): spatial patch size P.
        tubelet_size (int, optional): temporal patch size for video; None for images.
        mask_ratio (float | dict): masked fraction per modality (paper best: 0.8 / 0.8 images, 0.9 video).
        tube_masking (bool): for video, mask the same spatial positions in all time slots (VideoMAE).
        masking (str | dict): how :meth:`forward_mim` splits visible tokens between modalities:

            * ``'independent'``: every modality keeps ``1 - mask_ratio[m]`` of its tokens (paper, Table 6);
            * ``dict(type='dirichlet', alpha=1.0)``: MultiMAE. The visible budget (the sum of the independent
              counts) is split across modalities per sample with proportions drawn from Dirichlet(alpha);
            * ``dict(type='cross_modal', hide_fraction=0.5, hide='depth')``: independent masking, except that
              in ``hide_fraction`` of each batch one modality (``hide``, or one drawn per sample when
              ``hide=None``) has no visible token at all, so its reconstruction must come from the others.

            With per-sample counts, samples with fewer visible tokens than the widest one repeat a visible
            token (identical latents, no new information); a modality with none gets blank (zero) slots.
        shared_encoder (bool): one transformer for all modalities (True) or one per modality (False).
        cross_modal_attention (bool, optional): in :meth:`forward_mim`, encode the visible tokens of all
            modalities as one sequence. Needs ``shared_encoder=True``; default (None): on with a shared encoder,
            off with modality-specific ones. ``True`` with ``shared_encoder=False`` is refused.
        with_cls_token (bool): prepend a class token (kept so ImageNet MAE weights load fully and the RGB
            path matches stock ViTs).
        out_indices (int | sequence): layers whose outputs :meth:`forward` returns.
        out_type (str): as in mmpretrain's ``VisionTransformer``: 'featmap' ``(B, C, [t,] h, w)``, 'avg_featmap'
            ``(B, C)`` (mean over the patch tokens, then a LayerNorm ``ln2``: VideoMAE's ``fc_norm``, which
            ``m33d_to_mmaction_vit.py`` maps to the stock mmaction2 backbone's ``fc_norm``), 'cls_token' ``(B, C)``
            or 'raw' ``(B, N[+1], C)``.
        final_norm (bool): apply the last LayerNorm to the last layer's output.
        drop_path_rate (float): stochastic depth, linearly increasing over layers.
        with_cp (bool): activation checkpointing of every transformer layer during training.
        pos_embed_layout (str): channel layout of the fixed sin-cos table: 'hw' (mmpretrain), 'wh' (official
            MAE release) or '1d' (VideoMAE). Loading ``pretrained`` weights switches it to the layout their
            ``pos_embed`` was trained with; it is stored in checkpoints (buffer ``pos_layout_code``) so later
            stages and fine-tuning keep it.
        pretrained (str, optional): weights to start from: an ImageNet MAE checkpoint (official release or
            mmpretrain), a converted or M3D checkpoint file (loaded with ``weights_only=True``), or an
            mmengine work directory of one of your own runs (its last checkpoint). See
            :func:`m33d_mm.models.checkpoint.load_pretrained`.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 modalities: Optional[Dict[str, int]] = None,
                 patch_size: int = 16,
                 tubelet_size: Optional[int] = None,
                 mask_ratio: Union[float, Dict[str, float]] = 0.8,
                 tube_masking: bool = True,
                 shared_encoder: bool = True,
                 cross_modal_attention: Optional[bool] = None,
                 with_cls_token: bool = True,
                 out_indices: Union[int, Sequence[int]] = -1,
                 out_type: str = 'featmap',
                 final_norm: bool = True,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: Optional[dict] = None,
                 with_cp: bool = False,
                 pos_embed_layout: str = 'hw',
                 pretrained: Optional[str] = None,
                 masking: Union[str, dict] = 'independent',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            if arch.lower() not in ARCHS:
                hint = (f' (the 192-d ViT-Ti is "{RENAMED_ARCHS[arch.lower()]}", as in mmpretrain)'
                        if arch.lower() in RENAMED_ARCHS else '')
                raise KeyError(f'backbone.arch: unknown arch "{arch}"{hint}; expected one of mmpretrain\'s '
                               f'VisionTransformer.arch_zoo names {sorted(ARCHS)} or a dict')
            arch = ARCHS[arch.lower()]
        missing = {'embed_dims', 'num_layers', 'num_heads', 'feedforward_channels'} - set(arch)
        if missing:
            raise KeyError(f'backbone.arch: custom arch lacks {sorted(missing)}')
        self.modalities = dict(modalities or dict(rgb=3, depth=1))
        self.primary = next(iter(self.modalities))
        if isinstance(mask_ratio, (int, float)):
            mask_ratio = {m: float(mask_ratio) for m in self.modalities}
        unknown = set(mask_ratio) - set(self.modalities)
        if unknown or set(self.modalities) - set(mask_ratio):
            raise KeyError(f'backbone.mask_ratio: keys {sorted(mask_ratio)} must match modalities '
                           f'{sorted(self.modalities)}')
        if out_type not in ('featmap', 'avg_featmap', 'cls_token', 'raw'):
            raise ValueError(f'backbone.out_type: unknown "{out_type}"')
        if out_type == 'cls_token' and not with_cls_token:
            raise ValueError('backbone.out_type="cls_token" needs with_cls_token=True')
        if cross_modal_attention is None:
            cross_modal_attention = shared_encoder
        if cross_modal_attention and not shared_encoder:
            raise ValueError('backbone.cross_modal_attention=True needs backbone.shared_encoder=True: modality-'
                             'specific encoders (shared_encoder=False) encode each modality on its own; set '
                             'cross_modal_attention=False or leave it unset')
        self.mask_ratio = dict(mask_ratio)
        self.masking = self._check_masking(masking)
        self.embed_dims = arch['embed_dims']
        self.num_layers = arch['num_layers']
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.tube_masking = tube_masking
        self.shared_encoder = shared_encoder
        self.cross_modal_attention = cross_modal_attention
        self.with_cls_token = with_cls_token
        self.out_type = out_type
        self.final_norm = final_norm
        self.with_cp = with_cp
        self.pretrained = pretrained
        out_indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        self.out_indices = [i % self.num_layers for i in out_indices]
        norm_cfg = norm_cfg or dict(type='LN', eps=1e-6)

        if pos_embed_layout not in POS_LAYOUTS:
            raise ValueError(f'backbone.pos_embed_layout must be one of {POS_LAYOUTS}, got "{pos_embed_layout}"')
        self.register_buffer('pos_layout_code', torch.tensor(POS_LAYOUTS.index(pos_embed_layout)))
        self._pos_layout = pos_embed_layout
        self.patch_embed = nn.ModuleDict({
            name: ModalityPatchEmbed(channels, self.embed_dims, patch_size, tubelet_size)
            for name, channels in self.modalities.items()
        })
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims)) if with_cls_token else None
        self.drop_after_pos = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, self.num_layers).tolist()

        def build_layers():
            return nn.ModuleList([
                TransformerEncoderLayer(
                    embed_dims=self.embed_dims,
                    num_heads=arch['num_heads'],
                    feedforward_channels=arch['feedforward_channels'],
                    drop_rate=drop_rate,
                    drop_path_rate=dpr[i],
                    qkv_bias=qkv_bias,
                    norm_cfg=norm_cfg) for i in range(self.num_layers)
            ])

        self.layers = build_layers()
        self.ln1 = nn.LayerNorm(self.embed_dims, eps=norm_cfg.get('eps', 1e-6)) if final_norm else nn.Identity()
        if out_type == 'avg_featmap':  # the norm of the pooled features, as mmpretrain builds it
            self.ln2 = nn.LayerNorm(self.embed_dims, eps=norm_cfg.get('eps', 1e-6))
        # Modality-specific encoders: the primary modality uses `layers`/`ln1`, the others their own copies.
        self.modality_layers = nn.ModuleDict()
        self.modality_norms = nn.ModuleDict()
        if not shared_encoder:
            for name in list(self.modalities)[1:]:
                self.modality_layers[name] = build_layers()
                self.modality_norms[name] = (
                    nn.LayerNorm(self.embed_dims, eps=norm_cfg.get('eps', 1e-6)) if final_norm else nn.Identity())

    # ----------------------------------------------------------------------------------------------------
    # initialisation
    def init_weights(self):
        if self.init_cfg is not None:
            super().init_weights()
            return
        init_linear_and_norm(self)
        for embed in self.patch_embed.values():
            weight = embed.projection.weight
            nn.init.xavier_uniform_(weight.view(weight.shape[0], -1))
            nn.init.zeros_(embed.projection.bias)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=0.02)
        if self.pretrained:
            from ..checkpoint import load_pretrained
            load_pretrained(self, self.pretrained)

    # ----------------------------------------------------------------------------------------------------
    # token helpers
    @property
    def pos_embed_layout(self) -> str:
        """Channel layout of the fixed position table ('hw', 'wh' or '1d').

        The buffer ``pos_layout_code`` only carries it through checkpoints. The layout itself is a Python value,
        set at construction and on every state-dict load, so a forward pass never reads the buffer (on a GPU that
        would be a device-to-host sync per step, and a graph break under ``torch.compile``).
        """
        return self._pos_layout

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._pos_layout = POS_LAYOUTS[int(self.pos_layout_code)]

    def pos_embed(self, grid, device, dtype) -> torch.Tensor:
        """The fixed position table ``(1, N, C)`` for a token grid (no class-token slot)."""
        table = sincos_pos_embed(tuple(grid), self.embed_dims, layout=self.pos_embed_layout)
        return table.to(device=device, dtype=dtype)[None]

    def _check_input(self, name: str, x: torch.Tensor):
        expected = 4 if self.tubelet_size is None else 5
        if x.dim() != expected or x.shape[1] != self.modalities[name]:
            layout = 'B, C, H, W' if expected == 4 else 'B, C, T, H, W'
            raise ValueError(f'inputs["{name}"]: expected ({layout}) with C={self.modalities[name]}, '
                             f'got shape {tuple(x.shape)}')
        spatial = x.shape[-2:]
        if any(s % self.patch_size for s in spatial):
            raise ValueError(f'inputs["{name}"]: spatial size {tuple(spatial)} is not divisible by the patch '
                             f'size {self.patch_size}')
        if self.tubelet_size is not None and x.shape[2] % self.tubelet_size:
            raise ValueError(f'inputs["{name}"]: {x.shape[2]} frames are not divisible by the tubelet size '
                             f'{self.tubelet_size}')

    def embed(self, name: str, x: torch.Tensor):
        """Patch tokens of one modality with position embeddings added: ``(B, N, C)`` and the grid."""
        self._check_input(name, x)
        tokens, grid = self.patch_embed[name](x)
        return tokens + self.pos_embed(grid, tokens.device, tokens.dtype), grid

    def token_grid(self, x: torch.Tensor):
        """Token grid ``(h, w)`` or ``(t, h, w)`` that an input batch gives."""
        spatial = tuple(s // self.patch_size for s in x.shape[-2:])
        if self.tubelet_size is None:
            return spatial
        return (x.shape[2] // self.tubelet_size, ) + spatial

    def sample_keep_ids(self, batch: int, grid, mask_ratio: float, device) -> torch.Tensor:
        """Random visible-token indices ``(B, n)``; tube masking for video when ``tube_masking``."""
        return random_keep_ids(batch, grid, mask_ratio, self.tube_masking and len(grid) == 3, device)

    def _check_masking(self, masking) -> dict:
        if isinstance(masking, str):
            masking = dict(type=masking)
        if not isinstance(masking, dict) or 'type' not in masking:
            raise ValueError(f'backbone.masking: expected "independent" or a dict with a "type", got {masking!r}')
        masking = dict(masking)
        kind = masking.pop('type')
        allowed = dict(independent={}, dirichlet=dict(alpha=1.0), cross_modal=dict(hide_fraction=0.5, hide=None))
        if kind not in allowed:
            raise ValueError(f'backbone.masking.type: unknown "{kind}", expected one of {sorted(allowed)}')
        unknown = set(masking) - set(allowed[kind])
        if unknown:
            raise ValueError(f'backbone.masking: "{kind}" takes {sorted(allowed[kind]) or "no options"}, '
                           f'got {sorted(unknown)}')
        options = dict(allowed[kind], **masking, type=kind)
        if kind == 'dirichlet' and not float(options['alpha']) > 0:
            raise ValueError(f'backbone.masking.alpha must be > 0, got {options["alpha"]}')
        if kind == 'cross_modal':
            if not 0.0 <= float(options['hide_fraction']) <= 1.0:
                raise ValueError(f'backbone.masking.hide_fraction must be in [0, 1], got {options["hide_fraction"]}')
            if options['hide'] is not None and options['hide'] not in self.modalities:
                raise ValueError(f'backbone.masking.hide: "{options["hide"]}" is not one of the modalities '
                               f'{sorted(self.modalities)}')
        if kind != 'independent' and len(self.modalities) < 2:
            raise ValueError(f'backbone.masking: "{kind}" needs two or more modalities')
        return options

    def visible_counts(self, batch: int, grid, ratios: Dict[str, float], device) -> torch.Tensor:
        """Visible tokens per sample and modality ``(B, M)`` (modalities in ``self.modalities`` order) under
        ``self.masking``; counts are of spatial positions when video uses tube masking."""
        names = list(self.modalities)
        tube = self.tube_masking and len(grid) == 3
        spatial = math.prod(grid[-2:] if tube else grid)
        for name in names:
            if not 0.0 <= ratios[name] < 1.0:
                raise ValueError(f'mask_ratio["{name}"] must be in [0, 1), got {ratios[name]}')
        base = torch.tensor([max(1, int(round(spatial * (1.0 - ratios[n])))) for n in names], device=device)
        counts = base.expand(batch, -1).clone()
        kind = self.masking['type']
        if kind == 'dirichlet':
            budget = int(base.sum())
            alpha = torch.full((len(names), ), float(self.masking['alpha']))
            shares = torch.distributions.Dirichlet(alpha).sample((batch, )).to(device)
            # largest-remainder rounding: counts sum to the budget exactly, none above the modality's tokens
            raw = shares * budget
            counts = raw.floor().long().clamp(max=spatial)
            for b in range(batch):
                left = budget - int(counts[b].sum())
                for m in (raw[b] - raw[b].floor()).argsort(descending=True).tolist() * budget:
                    if left == 0:
                        break
                    if counts[b, m] < spatial:
                        counts[b, m] += 1
                        left -= 1
        elif kind == 'cross_modal':
            hidden = torch.rand(batch, device=device) < float(self.masking['hide_fraction'])
            if self.masking['hide'] is None:
                which = torch.randint(len(names), (batch, ), device=device)
            else:
                which = torch.full((batch, ), names.index(self.masking['hide']), device=device)
            counts[hidden, which[hidden]] = 0
        return counts

    def sample_masks(self, batch: int, grid, ratios: Dict[str, float], device):
        """Visible tokens of every modality under ``self.masking``.

        Returns:
            dict[str, tuple]: per modality ``(ids_keep (B, n), mask (B, N), blank (B, n) or None)``: ``mask``
            is 1 for masked tokens; ``blank`` marks slots to zero because the sample has no visible token of
            that modality. ``n`` is the widest sample's count; narrower samples repeat a visible index.
        """
        tube = self.tube_masking and len(grid) == 3
        num_tokens = math.prod(grid)
        if self.masking['type'] == 'independent':
            out = {}
            for name in self.modalities:
                keep = self.sample_keep_ids(batch, grid, ratios[name], device)
                out[name] = (keep, keep_ids_to_mask(keep, num_tokens), None)
            return out
        counts = self.visible_counts(batch, grid, ratios, device)
        spatial = math.prod(grid[-2:] if tube else grid)
        out = {}
        for m, name in enumerate(self.modalities):
            count = counts[:, m]
            width = max(1, int(count.max()))
            order = torch.rand(batch, spatial, device=device).argsort(dim=1)[:, :width]
            slot = torch.arange(width, device=device)[None]
            real = slot < count[:, None]
            # sorted real indices first, then repeats of the first real one (or index 0 as a blank slot)
            big = torch.where(real, order, spatial + order)
            ids = big.sort(dim=1).values
            ids = torch.where(ids >= spatial, ids[:, :1].where(count[:, None] > 0, torch.zeros_like(ids)), ids)
            mask = torch.ones(batch, spatial, device=device).scatter(1, order, (~real).float())
            blank = (count == 0)[:, None].expand(-1, width)
            if tube:
                offsets = torch.arange(grid[0], device=device) * spatial
                ids = (offsets[None, :, None] + ids[:, None, :]).flatten(1)
                mask = mask.repeat(1, grid[0])
                blank = blank.repeat(1, grid[0])
            out[name] = (ids, mask, blank if bool(blank.any()) else None)
        return out

    def _prepend_cls(self, x: torch.Tensor) -> torch.Tensor:
        if self.cls_token is None:
            return x
        return torch.cat([self.cls_token.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)

    def _run_layers(self, x: torch.Tensor, name: Optional[str] = None, collect: Sequence[int] = ()):
        layers = self.modality_layers[name] if name in self.modality_layers else self.layers
        norm = self.modality_norms[name] if name in self.modality_norms else self.ln1
        x = self.drop_after_pos(x)
        outs = []
        for i, layer in enumerate(layers):
            if self.with_cp and self.training and x.requires_grad:
                x = cp.checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
            if i == len(layers) - 1:
                x = norm(x)
            if i in collect:
                outs.append(x)
        return x, outs

    # ----------------------------------------------------------------------------------------------------
    # entry points
    def forward(self, x: torch.Tensor):
        """RGB-only forward without masking, for fine-tuning and feature extraction.

        Args:
            x (Tensor): ``(B, C, H, W)`` images or ``(B, C, T, H, W)`` clips of the primary modality.

        Returns:
            tuple[Tensor]: one output per ``out_indices`` entry, shaped by ``out_type``.
        """
        tokens, grid = self.embed(self.primary, x)
        _, outs = self._run_layers(self._prepend_cls(tokens), self.primary, collect=self.out_indices)
        return tuple(self._format_output(out, grid) for out in outs)

    def _format_output(self, x: torch.Tensor, grid):
        if self.out_type == 'raw':
            return x
        offset = 1 if self.with_cls_token else 0
        if self.out_type == 'cls_token':
            return x[:, 0]
        patches = x[:, offset:]
        if self.out_type == 'avg_featmap':
            return self.ln2(patches.mean(dim=1))
        names = ' '.join('thw'[-len(grid):])
        return rearrange(patches, f'b ({names}) c -> b c {names}', **dict(zip(names.split(), grid)))

    def forward_mim(self, inputs: Dict[str, torch.Tensor]) -> MaskedEncoding:
        """Masked multi-modal encoding for masked RGB-D modelling.

        Args:
            inputs (dict[str, Tensor]): one batch per modality, same spatial size.

        Returns:
            MaskedEncoding: visible-token latents, their indices and the masks per modality.
        """
        ratios = self.mask_ratio
        tokens, ids_keep, masks, grid, plan = {}, {}, {}, None, None
        for name in self.modalities:
            x, grid_m = self.embed(name, self._get(inputs, name))
            if grid is not None and grid_m != grid:
                raise ValueError(f'inputs["{name}"] gives a {grid_m} token grid, other modalities {grid}')
            grid = grid_m
            if plan is None:
                plan = self.sample_masks(x.shape[0], grid, ratios, x.device)
            keep, masks[name], blank = plan[name]
            tokens[name] = gather_tokens(x, keep)
            if blank is not None:
                tokens[name] = tokens[name].masked_fill(blank[..., None], 0.0)
            ids_keep[name] = keep
        return MaskedEncoding(latent=self._encode_visible(tokens), ids_keep=ids_keep, mask=masks, grid=grid)

    def _encode_visible(self, tokens: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        offset = 1 if self.with_cls_token else 0
        if self.cross_modal_attention:
            names = list(tokens)
            lengths = [tokens[n].shape[1] for n in names]
            x, _ = self._run_layers(self._prepend_cls(torch.cat([tokens[n] for n in names], dim=1)))
            return dict(zip(names, x[:, offset:].split(lengths, dim=1)))
        return {name: self._run_layers(self._prepend_cls(x), name)[0][:, offset:] for name, x in tokens.items()}

    def forward_modalities(self, inputs: Dict[str, torch.Tensor],
                           ids_keep: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Encode every modality as its own sequence, optionally at the same kept positions.

        Args:
            inputs (dict[str, Tensor]): one batch per modality.
            ids_keep (Tensor, optional): ``(B, n)`` token indices kept for every modality, so token ``j`` of
                each output is the same patch in all modalities; None keeps all tokens.

        Returns:
            dict[str, Tensor]: patch features ``(B, n or N, C)`` per modality (class token removed).
        """
        offset = 1 if self.with_cls_token else 0
        feats = {}
        for name in self.modalities:
            x, _ = self.embed(name, self._get(inputs, name))
            if ids_keep is not None:
                x = gather_tokens(x, ids_keep)
            x, _ = self._run_layers(self._prepend_cls(x), name)
            feats[name] = x[:, offset:]
        return feats

    @staticmethod
    def _get(inputs, name):
        if name not in inputs:
            raise KeyError(f'inputs lack modality "{name}" (got {sorted(inputs)})')
        return inputs[name]

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer index for layer-wise lr decay: embeddings 0, ``layers.i`` i+1, the rest num_layers+1."""
        num_layers = self.num_layers + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name.startswith(('cls_token', 'patch_embed')):
            layer_id = 0
        elif name.startswith(('layers.', 'modality_layers.')):
            parts = name.split('.')
            layer_id = int(parts[1] if parts[0] == 'layers' else parts[2]) + 1
        else:
            layer_id = num_layers - 1
        return layer_id, num_layers

