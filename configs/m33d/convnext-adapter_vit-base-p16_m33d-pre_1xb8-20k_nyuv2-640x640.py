# NYUv2 semantic segmentation (40 classes, 795 train / 654 test; Sec. 4.2.3, Table 4) with the M3D ViT-B/16
# encoder and the ConvNeXt adapter head, MultiMAE's NYUv2 recipe: 640 x 640 inputs, AdamW lr 1e-4, layer-wise
# lr decay 0.75, drop path 0.1, 200 epochs (20k iterations at batch 8). Same model as the ScanNet recipe with 40
# classes. Data: tools/dataset_converters/nyuv2.py writes <data_root>/{train,test}/{rgb,label}/*.png (label =
# NYU40 ids, 0 unlabelled -> ignored) and <data_root>/{train,test}.txt.
_base_ = ['./convnext-adapter_vit-base-p16_m33d-pre_1xb8-40k_scannet-240x320.py']

data_root = 'data/nyuv2'
crop_size = (640, 640)
num_classes = 40
max_iters = 20000

model = dict(data_preprocessor=dict(size=crop_size), decode_head=dict(num_classes=num_classes))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadNYU40Annotations'),  # NYU40 ids 1..40 -> 0..39, 0 -> 255
    dict(type='RandomResize', scale=(853, 640), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(853, 640), keep_ratio=True),
    dict(type='LoadNYU40Annotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='NYUv2SegDataset',
        data_root=data_root,
        split='train',
        data_fraction=1.0,
        data_seed=0,
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True, type='NYUv2SegDataset', data_root=data_root, split='test', test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=500, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=2000)
default_hooks = dict(checkpoint=dict(interval=2000))
