# ScanNet-style 20-class segmentation (the ScanNet recipe's model and schedule bases) on the synthetic RGB-D scenes
# with the micro ViT, initialised from the micro stage-2 run (m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py):
# about two minutes on 2 CPU cores, then prints mIoU on the val scenes. Without a pre-trained encoder:
#   --cfg-options model.backbone.pretrained=None
_base_ = [
    '../_base_/models/convnext-adapter_vit-base-p16.py', '../_base_/datasets/synthetic_seg.py',
    '../_base_/schedules/seg_adamw-layer-decay_40k.py', 'mmseg::_base_/default_runtime.py', '../_base_/reliability.py',
    '../_base_/models/vit-micro.py'
]

pretrained = 'work_dirs/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd'
max_iters = 200
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    backbone=dict(arch=_base_.tiny, out_indices=(3, ), drop_path_rate=0.0, pretrained=pretrained),
    # 96 = 1536 / 16 channels at 1/4 resolution and 2 blocks instead of 384 and 4, to fit the CPU budget
    decode_head=dict(in_channels=96, channels=96, num_blocks=2))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=20, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
