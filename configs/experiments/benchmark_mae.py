# RGB-only baseline on the benchmark scenes: mmpretrain's own MAE with the same tiny encoder, 8-px patches,
# 64x64 frames and schedule as benchmark_stage1.py.
_base_ = ['../quickstart/mae_vit-micro-p16_1xb16-8e_synthetic-rgb.py']

data_root = 'work_dirs/study_v2/data'
crop = 64
max_iters = 1000
warmup = 50

model = dict(
    backbone=dict(img_size=crop, patch_size=8, mask_ratio=0.75),
    neck=dict(num_patches=(crop // 8)**2, patch_size=8),
    head=dict(patch_size=8))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=crop, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, split_file='splits/unlabelled.txt', frame_skip=1, pipeline=train_pipeline))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
# the study's runs decay every parameter, as the quick start did before its no-decay rules; kept so that the
# runs stay comparable
optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer=_base_.optim_wrapper.optimizer)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup),
]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(by_epoch=False, interval=10**9, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
