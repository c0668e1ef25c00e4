# Stage 1 of the ScanNet recipe, shrunk to a tiny ViT on the embedded synthetic RGB-D scenes: minutes on
# 2 CPU cores. `make demo` generates the data (tools/data/generate_synthetic_rgbd.py) and runs both stages.
_base_ = '../m33d/m33d-stage1_vit-base-p16_8xb64-10e_scannet-rgbd.py'

data_root = 'data/synthetic_rgbd'
tiny = dict(_delete_=True, embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384)
crop_size = (128, 160)  # non-square on purpose: 8 x 10 patches

model = dict(backbone=dict(arch=tiny, pretrained=None))
train_pipeline = [
    dict(type='LoadRGBDFromFile', depth_scale=1000.),
    dict(type='RGBDRandomResizedCrop', scale=crop_size, crop_ratio_range=(0.4, 1.0)),
    dict(type='RGBDRandomFlip', prob=0.5),
    dict(type='PackRGBDInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(data_root=data_root, split_file='splits/train.txt', frame_skip=1, pipeline=train_pipeline))

max_epochs = 8
train_cfg = dict(max_epochs=max_epochs)
# warm-up over iterations, then a per-iteration cosine without a fixed length: the runner ends it at the run's
# own train_cfg.max_epochs, so a longer or shorter run (--cfg-options train_cfg.max_epochs=N) keeps a full cosine
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, convert_to_iter_based=True),
]
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05))
auto_scale_lr = dict(base_batch_size=16)  # the lr above is for batch 16 in one process, not the ViT-B 512
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=1, max_keep_ckpts=2))
resume = False
