# UCF-101 RGB-D clips for video pre-training: mmaction2's UCF-101 videos with per-frame depth estimated by
# tools/data/extract_depth.py; 16 frames 4 apart (VideoMAE's UCF-101 sampling rate), random resized 224 x 224
# crops (scale 0.4-1) and flips applied to RGB and depth alike.
_base_ = '../models/m33d-video_vit-base-p16.py'

# videos/<class>/<video>.avi, depth/<class>/<video>/<frame>.png and the list written by extract_depth.py
data_root = 'data/ucf101'
clip_len = 16
frame_interval = 4
crop_size = (224, 224)

train_pipeline = [
    # a few UCF-101 videos are shorter than the 61 frames a 16 x 4 clip spans: sample them more densely
    dict(type='LoadRGBDVideoClip', clip_len=clip_len, frame_interval=frame_interval, short_video='shrink'),
    dict(type='RGBDClipRandomResizedCrop', scale=crop_size, crop_ratio_range=(0.4, 1.0)),
    dict(type='RGBDClipRandomFlip', prob=0.5),
    dict(type='PackRGBDClipInputs'),
]
train_dataloader = dict(
    batch_size=24,
    num_workers=8,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='RGBDVideoDataset',
        data_root=data_root,
        ann_file='annotations/ucf101_rgbd_train_split_1.txt',
        data_prefix=dict(rgb='videos', depth='depth'),
        pipeline=train_pipeline))
