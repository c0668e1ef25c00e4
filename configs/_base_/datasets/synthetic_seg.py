# The synthetic RGB-D scenes of the quick start (tools/data/generate_synthetic_rgbd.py) for 20-class
# segmentation, loaded as ScanNet (scannet_seg.py): their labels are NYU40 ids like ScanNet's, frames 128 x 160
# (non-square on purpose: 8 x 10 patches of 16 px), crops without ScanNet's cap on one class's share; mIoU on
# the val scenes.
_base_ = './scannet_seg.py'

data_root = 'data/synthetic_rgbd'
crop_size = (128, 160)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadNYU40Annotations'),
    dict(type='RandomResize', scale=(160, 128), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(160, 128), keep_ratio=True),
    dict(type='LoadNYU40Annotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    num_workers=2, dataset=dict(data_root=data_root, split_file='splits/train.txt', pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=2, dataset=dict(data_root=data_root, split_file='splits/val.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader
