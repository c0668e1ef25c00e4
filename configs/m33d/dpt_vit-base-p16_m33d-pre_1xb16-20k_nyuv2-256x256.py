# NYUv2 monocular depth estimation (Sec. 4.2.4, Table 5, metric delta_1) with the M3D ViT-B/16 encoder and a
# DPT head on layers (2, 5, 8, 11), feature width 256, after MultiMAE: BerHu loss on valid pixels, 256 x 256
# inputs, AdamW lr 1e-4, layer-wise lr decay 0.75, drop path 0.1. The schedule (20k iterations at batch 16,
# ~400 epochs of the 795 training images) is our choice. The depth is predicted in metres (softplus output);
# MultiMAE's global target standardisation is not needed with a positive metric output.
# Data: tools/dataset_converters/nyuv2.py writes <data_root>/{train,test}/{rgb,depth,label}/*.png, which
# mmseg's stock NYUDataset reads through data_prefix; depth PNGs are uint16 millimetres.
# SiLog instead of BerHu: --cfg-options model.decode_head.loss_decode.type=SiLogLoss
_base_ = ['mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_20k.py', '../_base_/reliability.py']
custom_imports = dict(imports=['m33d_mm.segmentation'], allow_failed_imports=False)

data_root = 'data/nyuv2'
pretrained = 'work_dirs/m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd'  # M3D stage-2 work dir (its last checkpoint) or a weights file
crop_size = (256, 256)
max_iters = 20000

data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=0,  # padded depth is 0 = invalid, so the loss ignores it
    size=crop_size,
    test_cfg=dict(size_divisor=16))
model = dict(
    type='DepthEstimator',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='RGBDViT',
        arch='base',
        modalities=dict(rgb=3),
        patch_size=16,
        out_indices=(2, 5, 8, 11),
        out_type='featmap',
        drop_path_rate=0.1,
        pretrained=pretrained),
    decode_head=dict(
        type='DPTDepthHead',
        in_channels=768,
        channels=256,
        reassemble_channels=(96, 192, 384, 768),
        activation='softplus',
        max_depth=10.0,
        loss_decode=dict(type='BerHuLoss', threshold=0.2)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

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
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='NYUDataset',
        data_root=data_root,
        data_prefix=dict(img_path='train/rgb', depth_map_path='train/depth'),
        img_suffix='.png',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='NYUDataset',
        data_root=data_root,
        data_prefix=dict(img_path='test/rgb', depth_map_path='test/depth'),
        img_suffix='.png',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# depth_metrics must stay unset: mmseg 1.2.2 raises when it is given.
val_evaluator = dict(type='DepthMetric', min_depth_eval=1e-3, max_depth_eval=10.0, crop_type='nyu_crop')
test_evaluator = val_evaluator

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    constructor='RGBDViTLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
auto_scale_lr = dict(base_batch_size=16)  # the lr above is for a total batch of 16 (--auto-scale-lr)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=1000, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=2000)
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=2000, max_keep_ckpts=2, save_best='d1', rule='greater'))
randomness = dict(seed=0)
