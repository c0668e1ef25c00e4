# OR-AR phase clips (docs/finetune_video.md): videos/<video_id>/rgb/000000.jpg ..., annotations/phase_segments.txt
# and annotations/phase_{train,val,test}.txt. Every window of 300 frames (10 s at 30 fps) of a phase segment is one
# sample of 16 frames 4 apart (2 s), labelled with the phases it overlaps by half; only the label_budget fraction
# of the training videos keeps its labels. Augmentation as for UCF-101 (datasets/ucf101.py); 5 clips x 3 crops
# for testing.
_base_ = '../models/recognizer3d_vit-base-p16_multilabel.py'

data_root = 'data/orar'
label_budget = 0.05  # fraction of the training videos whose labels are used: 0.05, 0.1, 0.2 or 1.0
label_seed = 0  # which videos a budget keeps; budgets of one seed are nested
num_classes = 9
clip_len = 16
frame_interval = 4  # as in pre-training: a clip spans 2 s at 30 fps
window_len = 300  # phases last minutes: every 10 s (at 30 fps) of a segment is one sample

train_pipeline = [
    dict(type='SampleWindowClips', clip_len=clip_len, frame_interval=frame_interval),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop', area_range=(0.08, 1.0), aspect_ratio_range=(3 / 4, 4 / 3)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='TorchVisionWrapper', op='RandAugment', num_ops=4, magnitude=7, num_magnitude_bins=11),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='SampleWindowClips', clip_len=clip_len, frame_interval=frame_interval, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
test_pipeline = [
    dict(type='SampleWindowClips', clip_len=clip_len, frame_interval=frame_interval, num_clips=5, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='ThreeCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
dataset = dict(
    type='PhaseClipDataset',
    data_root=data_root,
    data_prefix=dict(video='videos'),
    segment_file='annotations/phase_segments.txt',
    num_classes=num_classes,
    rgb_template='{video_id}/rgb',  # '{video_id}/rgb.mp4' for video files (then DecordInit before sampling)
    window_len=window_len,
    min_overlap=0.5)
train_dataloader = dict(
    batch_size=_base_.clips_per_gpu,
    num_workers=8,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(dataset, ann_file='annotations/phase_train.txt', label_fraction=label_budget,
                 label_seed=label_seed, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=_base_.clips_per_gpu,
    num_workers=8,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, ann_file='annotations/phase_val.txt', pipeline=val_pipeline, test_mode=True))
test_dataloader = dict(  # batch size, workers and sampler of the stock recipe
    persistent_workers=False,
    dataset=dict(_delete_=True, **dataset, ann_file='annotations/phase_test.txt', pipeline=test_pipeline,
                 test_mode=True))
