# RGB clips of the quick start's synthetic RGB-D videos (tools/data/generate_synthetic_rgbd_video.py), labelled by
# the sphere's motion (5 classes: left_right, toward_away, orbit, bounce, static), for the UCF-101 recipe: 8 frames
# 2 apart at 64 x 64, without RandAugment, random erasing and the model's mixup / cutmix batches, which keep so
# short a run from fitting at all (tests/test_action_configs.py exercises them).
_base_ = './ucf101.py'

model = dict(data_preprocessor=dict(blending=None))

data_root = 'data/synthetic_rgbd_video'
num_classes = 5
clip_len = 8
frame_interval = 2
crop_size = 64

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
