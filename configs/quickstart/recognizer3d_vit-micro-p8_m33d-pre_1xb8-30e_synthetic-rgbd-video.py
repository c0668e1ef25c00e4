# Video recognition fine-tuning (the UCF-101 recipe) shrunk to the tiny ViT of the synthetic video pre-training:
# RGB clips of the synthetic RGB-D videos, labelled by the sphere's motion (5 classes), minutes on 2 CPU cores.
#   python tools/data/generate_synthetic_rgbd_video.py data/synthetic_rgbd_video
#   python tools/train.py configs/quickstart/m33d-video_vit-micro-p8_1xb8-10e_synthetic-rgbd-video.py      # optional, see below
#   python tools/train.py configs/quickstart/recognizer3d_vit-micro-p8_m33d-pre_1xb8-30e_synthetic-rgbd-video.py
# Without a pre-training run: --cfg-options model.backbone.pretrained=None
_base_ = '../m33d/recognizer3d_vit-base-p16_m33d-pre_8xb8-100e_ucf101.py'

data_root = 'data/synthetic_rgbd_video'
pretrained = 'work_dirs/m33d-video_vit-micro-p8_1xb8-10e_synthetic-rgbd-video'
num_classes = 5  # left_right, toward_away, orbit, bounce, static
clip_len = 8
frame_interval = 2
crop_size = 64
tiny = dict(_delete_=True, embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384)  # as pre-trained

# 60 training videos and 240 steps: without mixup / cutmix and RandAugment, which keep so short a run from
# fitting at all (they are exercised by tests/test_action_head_optim.py).
model = dict(
    backbone=dict(arch=tiny, patch_size=8, drop_path_rate=0.1, pretrained=pretrained),
    cls_head=dict(num_classes=num_classes, in_channels=96, init_std=0.02),
    data_preprocessor=dict(blending=None))

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 72)),
    dict(type='RandomResizedCrop', area_range=(0.4, 1.0), aspect_ratio_range=(3 / 4, 4 / 3)),
    dict(type='Resize', scale=(crop_size, crop_size), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, crop_size)),
    dict(type='CenterCrop', crop_size=crop_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=2, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, crop_size)),
    dict(type='ThreeCrop', crop_size=crop_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
# the generator's RGB-D lists "<rgb> <depth_dir> <label>"; the depth field is ignored
dataset = dict(data_root=data_root, data_prefix=dict(video=''), num_classes=num_classes)
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(dataset, ann_file='annotations/train.txt', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(dataset, ann_file='annotations/val.txt', pipeline=val_pipeline))
test_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(dataset, ann_file='annotations/val.txt', pipeline=test_pipeline))

max_epochs = 30
warmup_epochs = 2
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=3e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=1), logger=dict(interval=5))
