# The quick start's synthetic RGB-D motion videos (tools/data/generate_synthetic_rgbd_video.py) for video
# pre-training, in the layout of the UCF-101 RGB-D clips (datasets/ucf101_rgbd_video.py): 8 frames 2 apart,
# random resized 64 x 64 crops (scale 0.5-1).
_base_ = './ucf101_rgbd_video.py'

data_root = 'data/synthetic_rgbd_video'
clip_len = 8
frame_interval = 2
crop_size = (64, 64)

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
