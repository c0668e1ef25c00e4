# UCF-101 RGB clips in mmaction2's layout (videos/<class>/<video>.avi, ucf101_{train,val}_split_{1,2,3}_videos.txt):
# 16 frames 4 apart, VideoMAE's training augmentation (random resized crop, flip, RandAugment m7 n4, random
# erasing 0.25), one centre clip for validation, the stock recipe's 5 clips x 3 crops for testing.
_base_ = '../schedules/videomae_finetune.py'

data_root = 'data/ucf101'
split = 1  # UCF-101 has three train/test splits; the paper reports split 1
ann_file_train = f'ucf101_train_split_{split}_videos.txt'
ann_file_val = f'ucf101_val_split_{split}_videos.txt'
clip_len = 16
frame_interval = 4

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop', area_range=(0.08, 1.0), aspect_ratio_range=(3 / 4, 4 / 3)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    # timm's rand-m7-n4 on the 0-10 scale: torchvision's magnitude 7 of 11 bins; the same ops for all frames
    dict(type='TorchVisionWrapper', op='RandAugment', num_ops=4, magnitude=7, num_magnitude_bins=11),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
dataset = dict(type='VideoListDataset', data_root=data_root, data_prefix=dict(video='videos'),
               num_classes=_base_.num_classes)
train_dataloader = dict(
    batch_size=_base_.clips_per_gpu,
    num_workers=8,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(dataset, ann_file=ann_file_train, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=_base_.clips_per_gpu,
    num_workers=8,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, ann_file=ann_file_val, pipeline=val_pipeline, test_mode=True))
test_dataloader = dict(  # batch size, workers and sampler of the stock recipe
    persistent_workers=False,
    dataset=dict(_delete_=True, **dataset, ann_file=ann_file_val, pipeline=_base_.test_pipeline, test_mode=True))
val_evaluator = dict(type='AccMetric')  # top-1, top-5, mean class accuracy
