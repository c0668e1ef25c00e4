# ScanNet-style 20-class segmentation (the ScanNet recipe's model and schedule bases) on the synthetic RGB-D scenes
# with the micro ViT, initialised from the micro stage-2 run (m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py):
# about two minutes on 2 CPU cores, then prints mIoU on the val scenes. Without a pre-trained encoder:
#   --cfg-options model.backbone.pretrained=None
_base_ = [
    '../_base_/models/convnext-adapter_vit-base-p16.py', '../_base_/datasets/synthetic_seg.py',
    '../_base_/schedules/seg_adamw-layer-decay_quickstart-200it.py', 'mmseg::_base_/default_runtime.py',
    '../_base_/reliability.py', '../_base_/models/vit-micro.py'
]

pretrained = 'work_dirs/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd'
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    backbone=dict(arch=_base_.tiny, out_indices=(3, ), drop_path_rate=0.0, pretrained=pretrained),
    # 96 = 1536 / 16 channels at 1/4 resolution and 2 blocks instead of 384 and 4, to fit the CPU budget
    decode_head=dict(in_channels=96, channels=96, num_blocks=2))
env_cfg = dict(cudnn_benchmark=False)
