# M3D video pre-training (eq. 5) on long RGB-D videos with native Time-of-Flight depth in the OR-AR layout
# (docs/video.md): same model and recipe as the UCF-101 config; several clips per video and epoch because the
# videos are long. Phase labels are not used for pre-training.
_base_ = './m33d-video_vit-base-p16_8xb24-100e_ucf101-rgbd.py'

# videos/<video_id>/{rgb,depth}/ frame folders (or rgb.mp4) and annotations/pretrain_{train,val}.txt
data_root = 'data/orar'
clip_len = 16
frame_interval = 4  # at 30 fps a clip spans 2 s; raise it for slower workflows

train_pipeline = [
    # ToF cameras report nothing (0) where the signal is lost; readings beyond the room are noise
    dict(type='LoadRGBDVideoClip', clip_len=clip_len, frame_interval=frame_interval, depth_scale=1000.,
         max_depth=10.),
    dict(type='RGBDClipRandomResizedCrop', scale=(224, 224), crop_ratio_range=(0.4, 1.0)),
    dict(type='RGBDClipRandomFlip', prob=0.5),
    dict(type='PackRGBDClipInputs'),
]
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/pretrain_train.txt',
        data_prefix=dict(rgb='videos', depth='videos'),
        clips_per_video=32,
        pipeline=train_pipeline))
