# OR-AR surgical phase detection (Sec. 4.2.2, Table 2): clip-level multi-label classification over the 9
# workflow phases of long OR recordings, metric mAP, with 5 / 10 / 20 / 100 % of the training videos labelled
# (label_budget in _base_/datasets/orar_phase.py). The M3D ViT-B encoder (pre-trained with
# m33d-video_vit-base-p16_8xb24-100e_orar-rgbd.py) sees RGB clips only. Recipe: the UCF-101 one (AdamW, layer
# decay 0.7, drop path 0.2, dropout 0.5, RandAugment, random erasing) without mixup / cutmix / label smoothing,
# sigmoid + binary cross-entropy per phase (_base_/models/recognizer3d_vit-base-p16_multilabel.py); the paper
# gives no OR-AR schedule, the 50 epochs are our choice. Data layout and label budgets: docs/finetune_video.md.
_base_ = '../_base_/datasets/orar_phase.py'

pretrained = 'work_dirs/m33d-video_vit-base-p16_8xb24-100e_orar-rgbd'
model = dict(backbone=dict(pretrained=pretrained), cls_head=dict(num_classes=_base_.num_classes))

max_epochs = 50
warmup_epochs = 5
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
