# NYUv2 monocular depth estimation (Sec. 4.2.4, Table 5, metric delta_1) with the M3D ViT-B/16 encoder and a DPT
# head on layers (2, 5, 8, 11), feature width 256, after MultiMAE: BerHu loss on valid pixels, 256 x 256 inputs,
# AdamW lr 1e-4, layer-wise lr decay 0.75, drop path 0.1. The schedule (20k iterations at batch 16, ~400 epochs
# of the 795 training images) is our choice. Data layout: _base_/datasets/nyuv2_depth.py.
_base_ = [
    '../_base_/models/dpt_vit-base-p16.py', '../_base_/datasets/nyuv2_depth.py',
    '../_base_/schedules/depth_adamw-layer-decay_20k.py', 'mmseg::_base_/default_runtime.py', '../_base_/reliability.py'
]
