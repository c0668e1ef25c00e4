# Video pre-training (eq. 5) shrunk to a tiny ViT on the embedded synthetic RGB-D motion videos: minutes on
# 2 CPU cores. Generate the data first:
#   python tools/data/generate_synthetic_rgbd_video.py data/synthetic_rgbd_video
_base_ = '../m33d/m33d-video_vit-base-p16_8xb24-100e_ucf101-rgbd.py'

data_root = 'data/synthetic_rgbd_video'
tiny = dict(_delete_=True, embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384)
clip_len = 8
frame_interval = 2
crop_size = (64, 64)
patch_size = 8  # 8 x 8 patches per frame, so 90 % tube masks keep 6 positions x 4 time slots

model = dict(
    backbone=dict(arch=tiny, patch_size=patch_size, pos_embed_layout='hw', pretrained=None),
    neck=dict(patch_size=patch_size, in_channels=96, embed_dims=64, num_layers=2, num_heads=4),
    head=dict(patch_size=patch_size),
    matching_loss=dict(in_channels=96))
train_pipeline = [
    dict(type='LoadRGBDVideoClip', clip_len=clip_len, frame_interval=frame_interval),
    dict(type='RGBDClipRandomResizedCrop', scale=crop_size, crop_ratio_range=(0.5, 1.0)),
    dict(type='RGBDClipRandomFlip', prob=0.5),
    dict(type='PackRGBDClipInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(data_root=data_root, ann_file='annotations/train.txt', data_prefix=dict(rgb='', depth=''),
                 pipeline=train_pipeline))

max_epochs = 10
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs),
]
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05))
auto_scale_lr = dict(base_batch_size=8)  # the lr above is for batch 8 in one process
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=5, max_keep_ckpts=1))
resume = False
