# Video pre-training (eq. 5; the UCF-101 recipe's model base and no-decay rules) shrunk to the micro ViT on the
# embedded synthetic RGB-D motion videos: minutes on 2 CPU cores. Generate the data first:
#   python tools/data/generate_synthetic_rgbd_video.py data/synthetic_rgbd_video
_base_ = ['../_base_/datasets/synthetic_rgbd_video.py', '../_base_/models/vit-micro.py']

# 8 x 8 patches per frame, so 90 % tube masks keep 6 positions x 4 time slots
model = dict(
    backbone=dict(arch=_base_.tiny, patch_size=8, pos_embed_layout='hw', pretrained=None),
    neck=dict(patch_size=8, in_channels=96, embed_dims=64, num_layers=2, num_heads=4),
    head=dict(patch_size=8),
    matching_head=dict(in_channels=96))
train_cfg = dict(max_epochs=10)
# warm-up over iterations, then a per-iteration cosine that the runner ends at the run's own
# train_cfg.max_epochs (as in m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, convert_to_iter_based=True),
]
# plain fp32 AdamW at lr 1e-3 for batch 8 in one process, the recipe's no-decay rules
optim_wrapper = dict(_delete_=True, type='OptimWrapper', paramwise_cfg=_base_.optim_wrapper.paramwise_cfg,
                     optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05))
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=5, max_keep_ckpts=1))
resume = False
