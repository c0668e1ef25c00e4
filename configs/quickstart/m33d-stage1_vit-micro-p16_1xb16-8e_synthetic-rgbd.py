# Stage 1 of the ScanNet recipe (same model base and no-decay rules), shrunk to the micro ViT on the embedded
# synthetic RGB-D scenes: minutes on 2 CPU cores. `make demo` generates the data
# (tools/data/generate_synthetic_rgbd.py) and runs both stages.
_base_ = ['../_base_/datasets/synthetic_rgbd.py', '../_base_/models/vit-micro.py']

model = dict(backbone=dict(arch=_base_.tiny, pretrained=None))
max_epochs = 8
train_cfg = dict(max_epochs=max_epochs)
# warm-up over iterations, then a per-iteration cosine without a fixed length: the runner ends it at the run's
# own train_cfg.max_epochs, so a longer or shorter run (--cfg-options train_cfg.max_epochs=N) keeps a full cosine
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, convert_to_iter_based=True),
]
# plain fp32 AdamW at lr 1e-3 for batch 16 in one process (not the ViT-B 512), the recipe's no-decay rules
optim_wrapper = dict(_delete_=True, type='OptimWrapper', paramwise_cfg=_base_.optim_wrapper.paramwise_cfg,
                     optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05))
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=1, max_keep_ckpts=2))
resume = False
