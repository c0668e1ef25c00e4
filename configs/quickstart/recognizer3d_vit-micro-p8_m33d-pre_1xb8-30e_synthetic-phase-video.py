# Phase detection (the OR-AR recipe) shrunk to the tiny ViT of the synthetic video pre-training, on synthetic long
# videos whose sphere changes its motion 4 times (each motion stretch is a phase; 5 phases), minutes on 2 CPUs.
#   python tools/data/generate_synthetic_phase_video.py data/synthetic_phase_video
#   python tools/train.py configs/quickstart/recognizer3d_vit-micro-p8_m33d-pre_1xb8-30e_synthetic-phase-video.py
# Without the tiny video pre-training run: --cfg-options model.backbone.pretrained=None
# Label budget: --cfg-options train_dataloader.dataset.label_fraction=0.25
_base_ = '../m33d/recognizer3d_vit-base-p16_m33d-pre_8xb8-50e_orar-phase.py'

data_root = 'data/synthetic_phase_video'
pretrained = 'work_dirs/m33d-video_vit-micro-p8_1xb8-10e_synthetic-rgbd-video'
label_budget = 1.0
num_classes = 5
clip_len = 8
frame_interval = 2
crop_size = 64
tiny = dict(_delete_=True, embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384)  # as pre-trained

model = dict(
    backbone=dict(arch=tiny, patch_size=8, drop_path_rate=0.1, pretrained=pretrained),
    cls_head=dict(num_classes=num_classes, in_channels=96, init_std=0.02))

train_pipeline = [
    dict(type='SampleWindowClips', clip_len=clip_len, frame_interval=frame_interval),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 72)),
    dict(type='RandomResizedCrop', area_range=(0.4, 1.0), aspect_ratio_range=(3 / 4, 4 / 3)),
    dict(type='Resize', scale=(crop_size, crop_size), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='SampleWindowClips', clip_len=clip_len, frame_interval=frame_interval, num_clips=2, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, crop_size)),
    dict(type='CenterCrop', crop_size=crop_size),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
dataset = dict(data_root=data_root, num_classes=num_classes, window_len=None)  # whole (short) segments
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(dataset, label_fraction=label_budget, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(dataset, pipeline=val_pipeline))
test_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(dataset, ann_file='annotations/phase_val.txt', pipeline=val_pipeline))

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
