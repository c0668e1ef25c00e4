# UCF-101 action recognition (Sec. 4.2.1, Table 1): the M3D ViT-B video encoder fine-tuned on RGB clips with
# VideoMAE's recipe -- 16 frames 4 apart, AdamW lr 5e-4 x batch / 256, layer-wise lr decay 0.7, drop path 0.2,
# dropout 0.5 before the classifier, weight decay 0.05, mixup 0.8 / cutmix 1.0 (one of them per batch), label
# smoothing 0.1, RandAugment (m7, n4) and random erasing 0.25, 100 epochs with 5 of warm-up; tested on 5 clips x
# 3 crops. Model, runtime and test pipeline are mmaction2's VideoMAE recipe
# (_base_/models/recognizer3d_vit-base-p16.py); schedule: _base_/schedules/videomae_finetune.py; data:
# _base_/datasets/ucf101.py; see docs/finetune_video.md.
_base_ = '../_base_/datasets/ucf101.py'
