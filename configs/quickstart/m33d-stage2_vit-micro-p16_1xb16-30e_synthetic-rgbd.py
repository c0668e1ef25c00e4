# Stage 2 of the ScanNet recipe on the synthetic RGB-D scenes with a tiny ViT, starting from the stage-1 run
# of m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py.
_base_ = './m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py'

stage1 = 'work_dirs/m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd'

model = dict(
    backbone=dict(pretrained=stage1),
    neck=dict(type='RGBDMAEDecoder', patch_size=16, in_channels=96, embed_dims=64, num_layers=2, num_heads=4),
    head=dict(type='RGBDReconstructionHead', patch_size=16),
    contrastive_loss=None,
    loss_weights=dict(rgb=1., depth=1., contrastive=0.))

max_epochs = 30
train_cfg = dict(max_epochs=max_epochs)
# warm-up over iterations, then a per-iteration cosine without a fixed length: the runner ends it at the run's
# own train_cfg.max_epochs, so a longer or shorter run (--cfg-options train_cfg.max_epochs=N) keeps a full cosine
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, convert_to_iter_based=True),
]
