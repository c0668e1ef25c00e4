# NYUv2 semantic segmentation data (40 classes, 795 train / 654 test) as MultiMAE uses it: 640 x 640 crops of
# frames resized to 640 px high; mIoU on the test split. tools/dataset_converters/nyuv2.py writes
# <data_root>/{train,test}/{rgb,label}/*.png (label = NYU40 ids, 0 unlabelled -> ignored) and
# <data_root>/{train,test}.txt. Loaders and metric as for ScanNet (scannet_seg.py).
_base_ = './scannet_seg.py'

data_root = 'data/nyuv2'
crop_size = (640, 640)

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
