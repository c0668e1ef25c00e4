# ScanNet 2-D semantic segmentation (20 benchmark classes, the scannet_frames_25k set: every 100th frame,
# ~20k train / ~5k val images) with the M3D ViT-B/16 encoder and MultiMAE's ConvNeXt adapter head
# (Sec. 4.2.3, Table 3). Recipe after MultiMAE's fine-tuning: AdamW, lr 1e-4, layer-wise lr decay 0.75, drop
# path 0.1, weight decay 0.05, linear warm-up then cosine decay; the paper does not give ScanNet schedules, the
# 40k iterations at batch 8 (~16 epochs) are our choice. Frames are used at ScanNet's 240 x 320 pre-training
# resolution. Low-data regime (Fig. 2): --cfg-options train_dataloader.dataset.data_fraction=0.2
_base_ = ['mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_40k.py', '../_base_/reliability.py']
custom_imports = dict(imports=['m33d_mm.segmentation'], allow_failed_imports=False)

data_root = 'data/scannet_frames_25k'  # <scene>/color/*.jpg + <scene>/label/*.png (NYU40 ids), split files
pretrained = 'work_dirs/m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd'  # M3D stage-2 work dir (its last checkpoint) or a weights file
crop_size = (240, 320)
num_classes = 20
max_iters = 40000

data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=crop_size,
    test_cfg=dict(size_divisor=16))  # whole-image inference needs sizes divisible by the patch size
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='RGBDViT',
        arch='base',
        modalities=dict(rgb=3),
        patch_size=16,
        out_indices=(11, ),
        out_type='featmap',
        drop_path_rate=0.1,
        pretrained=pretrained),
    decode_head=dict(
        type='ConvNeXtAdapterHead',
        in_channels=768,
        channels=384,
        num_blocks=4,
        num_classes=num_classes,
        ignore_index=255,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

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

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='RGBDViTLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
auto_scale_lr = dict(base_batch_size=8)  # the lr above is for a total batch of 8 (--auto-scale-lr)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1500),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=1500, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=4000)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=4000, max_keep_ckpts=2, save_best='mIoU'))
randomness = dict(seed=0)
