# The synthetic RGB-D scenes of the quick start (tools/data/generate_synthetic_rgbd.py) for depth estimation:
# 128 x 160 frames (non-square on purpose: 8 x 10 patches of 16 px), depth PNGs in uint16 millimetres; d1,
# abs_rel, rmse, ... on the val scenes without NYUv2's border crop.
data_root = 'data/synthetic_rgbd'
crop_size = (128, 160)

meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='RandomResize', scale=(160, 128), ratio_range=(1.0, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(160, 128), keep_ratio=True),
    dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='ScanNetDepthDataset', data_root=data_root, split_file='splits/train.txt',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ScanNetDepthDataset', data_root=data_root, split_file='splits/val.txt', test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='DepthMetric', min_depth_eval=1e-3, max_depth_eval=10.0, crop_type=None)
test_evaluator = val_evaluator
