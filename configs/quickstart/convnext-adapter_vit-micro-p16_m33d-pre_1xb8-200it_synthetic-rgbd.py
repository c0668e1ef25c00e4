# ScanNet-style 20-class segmentation on the synthetic RGB-D scenes with the tiny ViT of the quick start,
# initialised from the tiny stage-2 run (m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py): about two minutes on 2 CPU cores,
# then prints mIoU on the val scenes. Without a pre-trained encoder:
#   --cfg-options model.backbone.pretrained=None
_base_ = '../m33d/convnext-adapter_vit-base-p16_m33d-pre_1xb8-40k_scannet-240x320.py'

data_root = 'data/synthetic_rgbd'
pretrained = 'work_dirs/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd'
tiny = dict(_delete_=True, embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384)
crop_size = (128, 160)  # non-square on purpose: 8 x 10 patches
max_iters = 200

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch=tiny, out_indices=(3, ), drop_path_rate=0.0, pretrained=pretrained),
    # 96 = 1536 / 16 channels at 1/4 resolution and 2 blocks instead of 384 and 4, to fit the CPU budget
    decode_head=dict(in_channels=96, channels=96, num_blocks=2))

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
    batch_size=8,
    num_workers=2,
    dataset=dict(data_root=data_root, split_file='splits/train.txt', pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=2,
    dataset=dict(data_root=data_root, split_file='splits/val.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=20, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
