# Depth estimation (the NYUv2 recipe's model and schedule bases) on the synthetic RGB-D scenes with the micro ViT and
# a narrow DPT head, initialised from the micro stage-2 run (m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py):
# about two minutes on 2 CPU cores, then prints d1 / abs_rel / rmse on the val scenes. Without a pre-trained
# encoder: --cfg-options model.backbone.pretrained=None
_base_ = [
    '../_base_/models/dpt_vit-base-p16.py', '../_base_/datasets/synthetic_depth.py',
    '../_base_/schedules/depth_adamw-layer-decay_20k.py', 'mmseg::_base_/default_runtime.py',
    '../_base_/reliability.py', '../_base_/models/vit-micro.py'
]

pretrained = 'work_dirs/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd'
max_iters = 200
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    backbone=dict(arch=_base_.tiny, out_indices=(0, 1, 2, 3), drop_path_rate=0.0, pretrained=pretrained),
    decode_head=dict(in_channels=96, channels=64, reassemble_channels=(24, 48, 96, 96)))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
auto_scale_lr = dict(base_batch_size=8)  # the lr above is for batch 8 in one process
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=20, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
