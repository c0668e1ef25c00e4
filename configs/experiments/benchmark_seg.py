# Fine-tuning on the benchmark scenes: the six classes (wall, floor, sphere, disc, cube, panel are ScanNet-20
# ids 0-5, so a 6-class head reads the labels unchanged; mIoU covers exactly these classes), the tiny ViT with
# 8-px patches and the ConvNeXt adapter head at 64x64, labelled pool for training, val split for the lr.
_base_ = '../quickstart/convnext-adapter_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd.py'

data_root = 'work_dirs/study_v2/data'
size = (64, 64)
max_iters = 800
warmup = 40

model = dict(
    data_preprocessor=dict(size=size, test_cfg=dict(size_divisor=8)),
    backbone=dict(patch_size=8, pretrained=None),
    # 2 pixels per 8-px token: the 1/4-resolution map of the adapter head
    decode_head=dict(num_classes=6, upsample=2))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadNYU40Annotations'),
    dict(type='RandomResize', scale=(64, 64), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadNYU40Annotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, split_file='splits/labelled.txt', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, split_file='splits/val.txt', pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='ScanNetSegDataset', data_root=data_root, split_file='splits/test.txt', test_mode=True,
                 pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=warmup),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
