# Stage 2 (masked RGB + depth modelling) on the benchmark scenes; see benchmark_stage1.py. Masking strategy:
# model.backbone.masking (independent / dirichlet / cross_modal), ratios: model.backbone.mask_ratio.
_base_ = './benchmark_stage1.py'

model = dict(
    backbone=dict(pretrained=None),
    neck=dict(type='RGBDMAEDecoder', patch_size=8, in_channels=96, embed_dims=64, num_layers=2, num_heads=4),
    head=dict(type='RGBDReconstructionHead', patch_size=8),
    contrastive_loss=None,
    loss_weights=dict(rgb=1., depth=1., contrastive=0.))
