# ScanNet RGB-D frames for pre-training: every 25th frame of the training scenes, random resized 224 x 224 crops
# (scale 0.2-1) and flips applied to RGB and depth alike.
_base_ = '../models/m33d_vit-base-p16.py'

data_root = 'data/scannet_frames'  # <scene>/color/*.jpg + <scene>/depth/*.png (uint16 mm)
crop_size = (224, 224)

train_pipeline = [
    dict(type='LoadRGBDFromFile', depth_scale=1000.),
    dict(type='RGBDRandomResizedCrop', scale=crop_size, crop_ratio_range=(0.2, 1.0)),
    dict(type='RGBDRandomFlip', prob=0.5),
    dict(type='PackRGBDInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=False,
    dataset=dict(_delete_=True, type='RGBDFrameDataset', data_root=data_root,
                 split_file='splits/scannetv2_train.txt', frame_skip=25, pipeline=train_pipeline))
