# Depth estimation on the synthetic RGB-D scenes with the tiny ViT of the quick start and a narrow DPT head,
# initialised from the tiny stage-2 run (m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py): about two minutes on 2 CPU cores,
# then prints d1 / abs_rel / rmse on the val scenes. Without a pre-trained encoder:
#   --cfg-options model.backbone.pretrained=None
_base_ = '../m33d/dpt_vit-base-p16_m33d-pre_1xb16-20k_nyuv2-256x256.py'

data_root = 'data/synthetic_rgbd'
pretrained = 'work_dirs/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd'
tiny = dict(_delete_=True, embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384)
crop_size = (128, 160)  # non-square on purpose: 8 x 10 patches
max_iters = 200

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch=tiny, out_indices=(0, 1, 2, 3), drop_path_rate=0.0, pretrained=pretrained),
    decode_head=dict(in_channels=96, channels=64, reassemble_channels=(24, 48, 96, 96)))

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
    dataset=dict(
        _delete_=True,
        type='ScanNetDepthDataset',
        data_root=data_root,
        split_file='splits/train.txt',
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=2,
    dataset=dict(
        _delete_=True,
        type='ScanNetDepthDataset',
        data_root=data_root,
        split_file='splits/val.txt',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(crop_type=None)  # nyu_crop is NYUv2's 480 x 640 border
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=1e-3))
auto_scale_lr = dict(base_batch_size=8)  # the lr above is for batch 8 in one process
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=20, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
