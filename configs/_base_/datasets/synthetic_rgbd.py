# The synthetic RGB-D scenes of the quick start (tools/data/generate_synthetic_rgbd.py) for pre-training, in the
# ScanNet layout (scannet_rgbd.py): every frame of the training scenes, random resized 128 x 160 crops
# (non-square on purpose: 8 x 10 patches of 16 px).
_base_ = './scannet_rgbd.py'

data_root = 'data/synthetic_rgbd'
crop_size = (128, 160)

train_pipeline = [
    dict(type='LoadRGBDFromFile', depth_scale=1000.),
    dict(type='RGBDRandomResizedCrop', scale=crop_size, crop_ratio_range=(0.4, 1.0)),
    dict(type='RGBDRandomFlip', prob=0.5),
    dict(type='PackRGBDInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    dataset=dict(data_root=data_root, split_file='splits/train.txt', frame_skip=1, pipeline=train_pipeline))
