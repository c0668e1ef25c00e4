# NYUv2 depth (795 train / 654 test images) on mmseg's stock NYU base (NYUDataset, DepthMetric with the NYU
# crop). tools/dataset_converters/nyuv2.py writes <data_root>/{train,test}/{rgb,depth,label}/*.png (depth: uint16
# millimetres), which the stock dataset reads through data_prefix. Pipelines after MultiMAE: 256 x 256 crops of
# frames resized to 256 px high, photometric distortion, evaluated at full size.
_base_ = 'mmseg::_base_/datasets/nyu.py'

data_root = 'data/nyuv2'
crop_size = (256, 256)

meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),  # uint16 mm -> m
    dict(type='RandomResize', scale=(341, 256), ratio_range=(1.0, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(341, 256), keep_ratio=True),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),  # after Resize: evaluated at full size
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        data_prefix=dict(img_path='train/rgb', depth_map_path='train/depth'),
        img_suffix='.png',
        pipeline=train_pipeline))
val_dataloader = dict(
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        data_prefix=dict(img_path='test/rgb', depth_map_path='test/depth'),
        img_suffix='.png',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# depth_metrics must stay unset: mmseg 1.2.2 raises when it is given.
