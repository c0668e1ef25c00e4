# The quick start's synthetic long videos in the OR-AR layout (tools/data/generate_synthetic_phase_video.py): a
# sphere changes its motion 4 times, each motion stretch is a phase (5 phases), whole (short) segments are the
# samples, every training video keeps its labels; 8 frames 2 apart at 64 x 64, validated and tested on 2 clips.
_base_ = './orar_phase.py'

data_root = 'data/synthetic_phase_video'
label_budget = 1.0
num_classes = 5
clip_len = 8
frame_interval = 2
crop_size = 64

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
test_pipeline = val_pipeline  # the 2 clips of validation, not the recipe's 5 x 3 views of 224 px
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
    dataset=dict(dataset, ann_file='annotations/phase_val.txt', pipeline=test_pipeline))
