"""The M3D pre-training algorithm (Sec. 3.3)."""
from typing import Dict, List, Optional

import torch
from mmengine.logging import MMLogger
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS

LOSS_TERMS = ('rgb', 'depth', 'contrastive', 'matching')


def rgbd_preprocessor(cfg: Optional[dict]) -> dict:
    """The data preprocessor M3D runs with: ``RGBDDataPreprocessor`` (RGB and depth as separate inputs).

    A stock mmpretrain self-supervised base config sets a top-level ``data_preprocessor =
    dict(type='SelfSupDataPreprocessor', ...)`` that the runner hands to every model without one of its own; it
    normalises a single stacked image and cannot read RGB-D inputs. It is replaced by ``RGBDDataPreprocessor`` with
    the same RGB mean and std (both in RGB order), and the config line that chooses it explicitly is logged.
    """
    if cfg is None:
        return dict(type='RGBDDataPreprocessor')
    if isinstance(cfg, dict) and str(cfg.get('type', '')).rpartition('.')[2] == 'SelfSupDataPreprocessor':
        MMLogger.get_current_instance().warning(
            'M33D: replacing the SelfSupDataPreprocessor of the base config by RGBDDataPreprocessor (same RGB '
            "mean/std); add `data_preprocessor = dict(_delete_=True, type='RGBDDataPreprocessor')` to the config "
            'to choose it yourself')
        return dict(type='RGBDDataPreprocessor',
                    **{k: cfg[k] for k in ('mean', 'std', 'non_blocking') if cfg.get(k) is not None})
    return cfg


@MODELS.register_module()
class M33D(BaseSelfSupervisor):
    """M3D: masked RGB-D modelling plus cross-modal contrast and matching.

    ``loss()`` is shaped like mmpretrain's ``MAE.loss``: the masked pass and the reconstruction head give
    ``rgb`` (eq. 1) and ``depth`` (eq. 2), the per-modality pass gives ``contrastive`` (eq. 3, ``contrastive_loss``)
    and ``matching`` (eq. 4, ``matching_head``), and :meth:`weigh` applies α, β, γ, η in one place: one weighted
    entry ``loss_<term>`` per active term, whose sum is eq. (5) for video and eq. (6) / eq. (7) for the two image
    stages. A term is active when its weight is positive.

    * Stage 1 (images, eq. 6): ``loss_weights=dict(contrastive=1)``, no neck/head; the encoder sees every
      patch of each modality as its own sequence (no masking).
    * Stage 2 (images, eq. 7): ``loss_weights=dict(rgb=α, depth=β)``, backbone ``pretrained`` = stage 1.
    * Video (eq. 5): all four terms in one step.

    Args:
        backbone (dict): :class:`RGBDViT` config.
        neck (dict, optional): :class:`RGBDMAEDecoder` config (needed for the rgb/depth terms).
        head (dict, optional): :class:`RGBDReconstructionHead` config (needed for the rgb/depth terms).
        contrastive_loss (dict, optional): :class:`PatchInfoNCELoss` config.
        matching_head (dict, optional): :class:`RGBDMatchingHead` config. Checkpoints written when the matching
            classifier lived in ``matching_loss`` (``matching_loss.classifier.*``) still load.
        loss_weights (dict): α, β, γ, η as ``rgb``, ``depth``, ``contrastive``, ``matching``.
        cross_modal_tokens (str): which patches feed eqs. (3)-(4). 'all': every patch of each modality
            (stage 1, and the most faithful reading of eq. 3). 'shared_visible': only the patches visible in
            the RGB mask of the masked pass, encoded per modality at the same positions, so positives exist
            under independent masks at a fraction of the cost (default for video).
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 contrastive_loss: Optional[dict] = None,
                 matching_head: Optional[dict] = None,
                 loss_weights: Optional[Dict[str, float]] = None,
                 cross_modal_tokens: str = 'all',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(backbone=backbone, neck=neck, head=head,
                         data_preprocessor=rgbd_preprocessor(data_preprocessor), init_cfg=init_cfg)
        weights = dict(rgb=1.0, depth=1.0, contrastive=0.0, matching=0.0)
        unknown = set(loss_weights or {}) - set(LOSS_TERMS)
        if unknown:
            raise KeyError(f'model.loss_weights: unknown terms {sorted(unknown)}, expected {list(LOSS_TERMS)}')
        weights.update(loss_weights or {})
        self.loss_weights = {k: float(v) for k, v in weights.items()}
        if cross_modal_tokens not in ('all', 'shared_visible'):
            raise ValueError(f'model.cross_modal_tokens must be "all" or "shared_visible", '
                             f'got "{cross_modal_tokens}"')
        self.cross_modal_tokens = cross_modal_tokens
        self.contrastive_loss = MODELS.build(contrastive_loss) if contrastive_loss else None
        self.matching_head = MODELS.build(matching_head) if matching_head else None
        needs = dict(rgb=('neck', 'head'), depth=('neck', 'head'), contrastive=('contrastive_loss', ),
                     matching=('matching_head', ))
        for term, modules in needs.items():
            for module in modules:
                if self.loss_weights[term] > 0 and getattr(self, module) is None:
                    raise ValueError(f'model.loss_weights.{term} > 0 needs model.{module} to be configured')
        if not any(w > 0 for w in self.loss_weights.values()):
            raise ValueError('model.loss_weights: at least one term must have a positive weight')

    def active(self, term: str) -> bool:
        return self.loss_weights.get(term, 0.0) > 0

    @property
    def masked_terms_active(self) -> bool:
        return self.active('rgb') or self.active('depth')

    @property
    def cross_modal_terms_active(self) -> bool:
        return self.active('contrastive') or self.active('matching')

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the matching classifier lived in the loss module `matching_loss` before it moved to `matching_head`
        old = f'{prefix}matching_loss.'
        for key in [k for k in state_dict if k.startswith(old)]:
            state_dict.setdefault(f'{prefix}matching_head.{key[len(old):]}', state_dict.pop(key))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extract_feat(self, inputs):
        """RGB features of the encoder without masking (what fine-tuning starts from)."""
        if isinstance(inputs, dict):
            inputs = inputs[self.backbone.primary]
        return self.backbone(inputs)

    def loss(self, inputs: Dict[str, torch.Tensor], data_samples: Optional[List] = None,
             **kwargs) -> Dict[str, torch.Tensor]:
        """Weighted loss terms for a batch.

        Args:
            inputs (dict[str, Tensor]): preprocessed ``rgb`` and ``depth`` batches and the
                valid-pixel masks ``valid`` (see :class:`RGBDDataPreprocessor`).
            data_samples: unused; kept for the mmengine interface.
        """
        losses, encoding = {}, None
        if self.masked_terms_active:
            encoding = self.backbone.forward_mim(inputs)
            losses.update(self.head.loss(self.neck(encoding), inputs, encoding))
        if self.cross_modal_terms_active:
            losses.update(self.cross_modal_loss(inputs, encoding))
        return self.weigh(losses)

    def cross_modal_loss(self, inputs: Dict[str, torch.Tensor], encoding=None) -> Dict[str, torch.Tensor]:
        """Unweighted eqs. (3) and (4) (the active ones) on every modality encoded as its own sequence, at the
        positions ``cross_modal_tokens`` chooses (those visible in ``encoding``'s RGB mask, when given)."""
        ids_keep = None
        if self.cross_modal_tokens == 'shared_visible':
            primary = self.backbone.primary
            if encoding is not None:
                ids_keep = encoding.ids_keep[primary]
            else:
                x = inputs[primary]
                ids_keep = self.backbone.sample_keep_ids(x.shape[0], self.backbone.token_grid(x),
                                                         self.backbone.mask_ratio[primary], x.device)
        feats = self.backbone.forward_modalities(inputs, ids_keep=ids_keep)
        losses = {}
        if self.active('contrastive'):
            losses['contrastive'] = self.contrastive_loss(feats['rgb'], feats['depth'])
        if self.active('matching'):
            losses['matching'] = self.matching_head.loss(feats['rgb'], feats['depth'])
        return losses

    def weigh(self, losses: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The weighted terms of the M3D objective, ``loss_<term> = weight[term] * L_term``.

        Their sum is eq. (5), ``L = α L_rgb + β L_depth + γ L_c + η L_m`` (video); eq. (6), ``γ L_c`` (image
        stage 1); eq. (7), ``α L_rgb + β L_depth`` (image stage 2) -- with α, β, γ, η the ``loss_weights``
        ``rgb``, ``depth``, ``contrastive``, ``matching``. Terms of weight 0 are left out.

        Args:
            losses (dict[str, Tensor]): unweighted terms by name (``rgb``, ``depth``, ``contrastive``,
                ``matching``).
        """
        return {f'loss_{name}': self.loss_weights[name] * value for name, value in losses.items()
                if self.active(name)}
