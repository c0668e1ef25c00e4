# ScanNet 2-D semantic segmentation (20 benchmark classes; Sec. 4.2.3, Table 3) with the M3D ViT-B/16 encoder and
# MultiMAE's ConvNeXt adapter head. Recipe after MultiMAE's fine-tuning: AdamW, lr 1e-4, layer-wise lr decay 0.75,
# drop path 0.1, weight decay 0.05, linear warm-up then cosine decay; the paper does not give ScanNet schedules,
# the 40k iterations at batch 8 (~16 epochs) are our choice. Low-data regime (Fig. 2):
#   --cfg-options train_dataloader.dataset.data_fraction=0.2
_base_ = [
    '../_base_/models/convnext-adapter_vit-base-p16.py', '../_base_/datasets/scannet_seg.py',
    '../_base_/schedules/seg_adamw-layer-decay_40k.py', 'mmseg::_base_/default_runtime.py', '../_base_/reliability.py'
]
