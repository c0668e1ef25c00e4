# Video recognition fine-tuning (the UCF-101 recipe's bases) shrunk to the micro ViT of the synthetic video
# pre-training, on the RGB clips of the synthetic RGB-D videos (5 motion classes), minutes on 2 CPU cores.
#   python tools/data/generate_synthetic_rgbd_video.py data/synthetic_rgbd_video
#   python tools/train.py configs/quickstart/m33d-video_vit-micro-p8_1xb8-10e_synthetic-rgbd-video.py  # optional
#   python tools/train.py configs/quickstart/recognizer3d_vit-micro-p8_m33d-pre_1xb8-30e_synthetic-rgbd-video.py
# Without a pre-training run: --cfg-options model.backbone.pretrained=None
_base_ = ['../_base_/datasets/synthetic_rgbd_video_clips.py', '../_base_/models/vit-micro.py']

pretrained = 'work_dirs/m33d-video_vit-micro-p8_1xb8-10e_synthetic-rgbd-video'
model = dict(
    backbone=dict(arch=_base_.tiny, patch_size=8, drop_path_rate=0.1, pretrained=pretrained),
    cls_head=dict(num_classes=_base_.num_classes, in_channels=96, init_std=0.02))
max_epochs, warmup_epochs = 30, 2
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=3e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=1), logger=dict(interval=5))
