# Depth estimation (the NYUv2 recipe's model and schedule bases) on the synthetic RGB-D scenes with the micro ViT and
# a narrow DPT head, initialised from the micro stage-2 run (m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py):
# about two minutes on 2 CPU cores, then prints d1 / abs_rel / rmse on the val scenes. Without a pre-trained
# encoder: --cfg-options model.backbone.pretrained=None
_base_ = [
    '../_base_/models/dpt_vit-base-p16.py', '../_base_/datasets/synthetic_depth.py',
    '../_base_/schedules/depth_adamw-layer-decay_quickstart-200it.py', 'mmseg::_base_/default_runtime.py',
    '../_base_/reliability.py', '../_base_/models/vit-micro.py'
]

pretrained = 'work_dirs/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd'
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    backbone=dict(arch=_base_.tiny, out_indices=(0, 1, 2, 3), drop_path_rate=0.0, pretrained=pretrained),
    decode_head=dict(in_channels=96, channels=64, reassemble_channels=(24, 48, 96, 96)))
env_cfg = dict(cudnn_benchmark=False)
