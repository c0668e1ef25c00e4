# ScanNet 2-D semantic segmentation data: the scannet_frames_25k set (every 100th frame, ~20k train / ~5k val
# images), NYU40 labels mapped to the 20 benchmark classes, frames at ScanNet's 240 x 320 pre-training
# resolution; mIoU on the val split.
data_root = 'data/scannet_frames_25k'  # <scene>/color/*.jpg + <scene>/label/*.png (NYU40 ids), split files
crop_size = (240, 320)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadNYU40Annotations'),  # NYU40 ids -> 20 ScanNet classes, others 255
    dict(type='RandomResize', scale=(320, 240), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(320, 240), keep_ratio=True),
    dict(type='LoadNYU40Annotations'),  # after Resize: metrics are computed at the label's own size
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='ScanNetSegDataset',
        data_root=data_root,
        split_file='scannetv2_train.txt',
        data_fraction=1.0,
        data_seed=0,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ScanNetSegDataset',
        data_root=data_root,
        split_file='scannetv2_val.txt',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
