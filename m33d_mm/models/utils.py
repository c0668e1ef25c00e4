"""Token bookkeeping shared by the encoder, the decoder and the reconstruction head."""
import functools
import math
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from einops import rearrange


class MaskedEncoding(NamedTuple):
    """What the encoder hands to the decoder after a masked forward pass.

    Attributes:
        latent (dict[str, Tensor]): encoded visible tokens per modality, ``(B, n_m, C)``.
        ids_keep (dict[str, Tensor]): token indices of the visible tokens, ``(B, n_m)``.
        mask (dict[str, Tensor]): ``(B, N)`` with 1 for masked (to reconstruct) and 0 for visible tokens.
        grid (tuple[int, ...]): token grid, ``(h, w)`` for images or ``(t, h, w)`` for video.
    """
    latent: dict
    ids_keep: dict
    mask: dict
    grid: Tuple[int, ...]


def _sincos_1d(positions: torch.Tensor, dims: int, temperature: float) -> torch.Tensor:
    omega = torch.arange(dims // 2, dtype=torch.float64) / (dims // 2)
    omega = 1.0 / temperature**omega
    angles = positions.double()[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


POS_LAYOUTS = ('hw', 'wh', '1d')


@functools.lru_cache(maxsize=64)
def sincos_pos_embed(grid: Tuple[int, ...], embed_dims: int, temperature: float = 10000.,
                     layout: str = 'hw') -> torch.Tensor:
    """Fixed sine-cosine position embedding for a 2-D ``(h, w)`` or 3-D ``(t, h, w)`` token grid.

    Rows follow the row-major token order used everywhere in the project (``(t h w)`` flattening), so the
    embedding is right for non-square grids too. Layouts (what pre-trained weights were trained with):

    * 'hw' (default; mmpretrain's MAE on square grids): channels split into an ``h`` half then a ``w`` half,
      each ``[sin, cos]``; for 3-D grids ``t`` takes a quarter first and ``h``, ``w`` share the rest.
    * 'wh' (official MAE / timm release): the same with the ``w`` part before the ``h`` part.
    * '1d' (VideoMAE): a sinusoid of the flattened token index, sin on even and cos on odd channels.

    Results are cached per grid; callers must not modify them in place.

    Returns:
        Tensor: ``(prod(grid), embed_dims)`` float32 on the CPU.
    """
    grid = tuple(int(g) for g in grid)
    if layout not in POS_LAYOUTS:
        raise ValueError(f'position embedding layout must be one of {POS_LAYOUTS}, got "{layout}"')
    if len(grid) not in (2, 3):
        raise ValueError(f'grid must be (h, w) or (t, h, w), got {grid}')
    if layout == '1d':
        positions = torch.arange(int(torch.tensor(grid).prod()), dtype=torch.float64)
        channels = torch.arange(embed_dims)
        angles = positions[:, None] / temperature**(2 * (channels // 2) / embed_dims).double()[None]
        table = torch.where(channels % 2 == 0, angles.sin(), angles.cos())
        return table.float()
    if len(grid) == 2:
        if embed_dims % 4:
            raise ValueError(f'embed_dims must be divisible by 4 for a 2-D sin-cos embedding, got {embed_dims}')
        splits = [embed_dims // 2, embed_dims // 2]
    else:
        t_dims = (embed_dims // 4) // 2 * 2
        hw_dims = (embed_dims - t_dims) // 4 * 2
        t_dims = embed_dims - 2 * hw_dims
        if t_dims % 2 or t_dims <= 0:
            raise ValueError(f'embed_dims={embed_dims} cannot be split evenly into (t, h, w) sin-cos parts')
        splits = [t_dims, hw_dims, hw_dims]
    coords = torch.meshgrid(*[torch.arange(g) for g in grid], indexing='ij')
    parts = [_sincos_1d(c.flatten(), d, temperature) for c, d in zip(coords, splits)]
    if layout == 'wh':
        parts[-2:] = parts[-1], parts[-2]
    return torch.cat(parts, dim=1).float()


def detect_pos_layout(pos_embed: torch.Tensor, embed_dims: int) -> Optional[str]:
    """Which fixed layout a checkpoint's ``pos_embed`` ``(1, N[+1], C)`` is, or None (learned / unknown).

    Square image grids (with or without a class-token slot) and VideoMAE's 1-D table are recognised.
    """
    table = pos_embed.reshape(-1, pos_embed.shape[-1]).float()
    if table.shape[1] != embed_dims:
        return None
    for rows in (table, table[1:]):
        num = rows.shape[0]
        side = int(round(num**0.5))
        candidates = [('1d', (1, num))] if num else []
        if side * side == num and num:
            candidates = [('hw', (side, side)), ('wh', (side, side))] + candidates
        for layout, grid in candidates:
            grid = grid if layout != '1d' else (num, 1)
            if torch.allclose(rows, sincos_pos_embed(grid, embed_dims, layout=layout), atol=1e-4):
                return layout
    return None


def patchify(x: torch.Tensor, patch_size: int, tubelet_size: int = 1) -> torch.Tensor:
    """Cut images ``(B, C, H, W)`` or clips ``(B, C, T, H, W)`` into flattened patches.

    Returns:
        Tensor: ``(B, N, t*p*p*C)`` in the token order of the patch embedding.
    """
    p = patch_size
    if x.dim() == 4:
        return rearrange(x, 'b c (h p) (w q) -> b (h w) (p q c)', p=p, q=p)
    if x.dim() == 5:
        return rearrange(x, 'b c (t u) (h p) (w q) -> b (t h w) (u p q c)', u=tubelet_size, p=p, q=p)
    raise ValueError(f'expected a 4-D image or 5-D clip batch, got shape {tuple(x.shape)}')


def unpatchify(x: torch.Tensor, grid: Sequence[int], channels: int, patch_size: int,
               tubelet_size: int = 1) -> torch.Tensor:
    """Inverse of :func:`patchify` for a ``(h, w)`` or ``(t, h, w)`` token grid."""
    p = patch_size
    if len(grid) == 2:
        return rearrange(x, 'b (h w) (p q c) -> b c (h p) (w q)', h=grid[0], w=grid[1], p=p, q=p, c=channels)
    return rearrange(x, 'b (t h w) (u p q c) -> b c (t u) (h p) (w q)', t=grid[0], h=grid[1], w=grid[2],
                     u=tubelet_size, p=p, q=p, c=channels)


def random_keep_ids(batch: int, grid: Sequence[int], mask_ratio: float, tube: bool,
                    device: torch.device) -> torch.Tensor:
    """Indices of the tokens kept visible, sorted, ``(B, n_keep)``.

    Args:
        batch (int): batch size.
        grid (tuple): token grid ``(h, w)`` or ``(t, h, w)``.
        mask_ratio (float): fraction of tokens to mask, in ``[0, 1)``.
        tube (bool): for 3-D grids, mask the same spatial positions in every time slot (VideoMAE tube
            masking); otherwise tokens are drawn independently.
        device: where to create the indices.
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f'mask_ratio must be in [0, 1), got {mask_ratio}')
    # plain integers (not tensors): no host round trip, and torch.compile traces the masking in one graph
    spatial = math.prod(grid[-2:]) if tube else math.prod(grid)
    num_keep = max(1, int(round(spatial * (1.0 - mask_ratio))))
    noise = torch.rand(batch, spatial, device=device)
    ids_keep = noise.argsort(dim=1)[:, :num_keep].sort(dim=1).values
    if tube and len(grid) == 3:
        offsets = torch.arange(grid[0], device=device) * spatial
        ids_keep = (offsets[None, :, None] + ids_keep[:, None, :]).flatten(1)
    return ids_keep


def keep_ids_to_mask(ids_keep: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """``(B, N)`` float mask with 1 for masked and 0 for kept tokens."""
    mask = torch.ones(ids_keep.shape[0], num_tokens, device=ids_keep.device)
    mask.scatter_(1, ids_keep, 0.0)
    return mask


def gather_tokens(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Select tokens ``ids (B, n)`` from ``x (B, N, C)``."""
    return torch.gather(x, 1, ids[..., None].expand(-1, -1, x.shape[-1]))


def init_linear_and_norm(root: nn.Module) -> None:
    """MAE's initialisation: Xavier-uniform linear weights, zero biases, unit LayerNorms."""
    for module in root.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
