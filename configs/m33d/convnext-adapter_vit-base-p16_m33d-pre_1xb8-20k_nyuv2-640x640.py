# NYUv2 semantic segmentation (40 classes, 795 train / 654 test; Sec. 4.2.3, Table 4) with the M3D ViT-B/16
# encoder and the ConvNeXt adapter head, MultiMAE's NYUv2 recipe: 640 x 640 inputs, AdamW lr 1e-4, layer-wise
# lr decay 0.75, drop path 0.1, 200 epochs (20k iterations at batch 8). Same model and schedule bases as the
# ScanNet recipe with 40 classes; data layout: _base_/datasets/nyuv2_seg.py.
_base_ = [
    '../_base_/models/convnext-adapter_vit-base-p16.py', '../_base_/datasets/nyuv2_seg.py',
    '../_base_/schedules/seg_adamw-layer-decay_40k.py', 'mmseg::_base_/default_runtime.py', '../_base_/reliability.py'
]

num_classes = 40
max_iters = 20000
model = dict(data_preprocessor=dict(size=_base_.crop_size), decode_head=dict(num_classes=num_classes))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=500, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=2000)
default_hooks = dict(checkpoint=dict(interval=2000))
