"""The light decoder shared by all modalities (Sec. 3.1)."""
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.models.backbones.vision_transformer import TransformerEncoderLayer
from mmpretrain.registry import MODELS

from ..utils import MaskedEncoding, init_linear_and_norm, sincos_pos_embed


@MODELS.register_module()
class RGBDMAEDecoder(BaseModule):
    """Shared transformer decoder with one linear prediction head per modality.

    The encoded visible tokens of every modality are projected to the decoder width and scattered into a
    full token grid filled with a learned mask token; fixed sine-cosine position embeddings (MultiMAE) and a
    learned per-modality embedding are added, and all modalities are decoded as one sequence so that masked
    RGB patches can draw on visible depth patches and vice versa. Each head predicts the ``t*P*P*C`` pixels
    of its modality's patches.

    Args:
        modalities (dict): modality name -> channels to predict.
        patch_size (int): spatial patch size P.
        tubelet_size (int): temporal patch size (1 for images).
        in_channels (int): encoder width.
        embed_dims (int): decoder width (MultiMAE images: 256; VideoMAE: 384).
        num_layers (int): decoder depth (MultiMAE images: 2; VideoMAE: 4).
        num_heads (int): attention heads.
        mlp_ratio (float): FFN width / ``embed_dims``.
        with_cp (bool): activation checkpointing of decoder layers during training.
        separate_modalities (bool): decode each modality as its own sequence (the same layers, no attention
            across modalities) instead of one joint sequence. Attention then costs half as much for two
            modalities, but masked patches of one modality no longer see the other; the joint decoder
            (False) is the method's (MultiMAE). docs/benchmarks.md reports the effect on speed and loss.
    """

    def __init__(self,
                 modalities: Optional[Dict[str, int]] = None,
                 patch_size: int = 16,
                 tubelet_size: int = 1,
                 in_channels: int = 768,
                 embed_dims: int = 256,
                 num_layers: int = 2,
                 num_heads: int = 8,
                 mlp_ratio: float = 4.,
                 with_cp: bool = False,
                 separate_modalities: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.modalities = dict(modalities or dict(rgb=3, depth=1))
        self.separate_modalities = separate_modalities
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.embed_dims = embed_dims
        self.with_cp = with_cp
        self.decoder_embed = nn.Linear(in_channels, embed_dims)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.modality_embed = nn.ParameterDict(
            {name: nn.Parameter(torch.zeros(1, 1, embed_dims)) for name in self.modalities})
        self.layers = nn.ModuleList([
            TransformerEncoderLayer(
                embed_dims=embed_dims,
                num_heads=num_heads,
                feedforward_channels=int(embed_dims * mlp_ratio),
                qkv_bias=True,
                norm_cfg=dict(type='LN', eps=1e-6)) for _ in range(num_layers)
        ])
        self.norm = nn.LayerNorm(embed_dims, eps=1e-6)
        self.heads = nn.ModuleDict({
            name: nn.Linear(embed_dims, tubelet_size * patch_size * patch_size * channels)
            for name, channels in self.modalities.items()
        })

    def init_weights(self):
        if self.init_cfg is not None:
            super().init_weights()
            return
        init_linear_and_norm(self)
        nn.init.normal_(self.mask_token, std=0.02)
        for embed in self.modality_embed.values():
            nn.init.normal_(embed, std=0.02)

    def forward(self, encoding: MaskedEncoding) -> Dict[str, torch.Tensor]:
        """Predict the patches of every modality.

        Args:
            encoding (MaskedEncoding): output of :meth:`RGBDViT.forward_mim`.

        Returns:
            dict[str, Tensor]: ``(B, N, t*P*P*C)`` predictions for every token (visible ones included; the
            losses use masked tokens only).
        """
        names = [n for n in self.modalities if n in encoding.latent]
        sequences = []
        for name in names:
            visible = self.decoder_embed(encoding.latent[name])
            batch, num_tokens = encoding.mask[name].shape
            full = self.mask_token.to(visible.dtype).expand(batch, num_tokens, -1).clone()
            full.scatter_(1, encoding.ids_keep[name][..., None].expand(-1, -1, self.embed_dims), visible)
            pos = sincos_pos_embed(tuple(encoding.grid), self.embed_dims).to(full.device, full.dtype)
            sequences.append(full + pos[None] + self.modality_embed[name].to(full.dtype))
        # joint: one sequence of all modalities' tokens; separate: the modalities stacked along the batch
        dim = 0 if self.separate_modalities else 1
        lengths = [s.shape[dim] for s in sequences]
        x = torch.cat(sequences, dim=dim)
        for layer in self.layers:
            if self.with_cp and self.training and x.requires_grad:
                x = torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        x = self.norm(x)
        return {name: self.heads[name](part) for name, part in zip(names, x.split(lengths, dim=dim))}
