# UCF-101 action recognition (Sec. 4.2.1, Table 1): the M3D ViT-B video encoder fine-tuned on RGB clips with
# VideoMAE's recipe -- 16 frames 4 apart, AdamW lr 5e-4 x batch / 256, layer-wise lr decay 0.7, drop path 0.2,
# dropout 0.5 before the classifier, weight decay 0.05, mixup 0.8 / cutmix 1.0 (one of them per batch), label
# smoothing 0.1, RandAugment (m7, n4) and random erasing 0.25, 100 epochs with 5 of warm-up; tested on 5 clips x
# 3 crops. Runtime, data layout and the VideoMAE test pipeline shape are mmaction2's; see docs/finetune_video.md.
_base_ = ['mmaction::_base_/default_runtime.py', '../_base_/reliability.py']
custom_imports = dict(imports=['m33d_mm.action'], allow_failed_imports=False)

# mmaction2's UCF-101 layout: videos/<class>/<video>.avi and ucf101_{train,val}_split_{1,2,3}_videos.txt
data_root = 'data/ucf101'
split = 1  # UCF-101 has three train/test splits; the paper reports split 1
ann_file_train = f'ucf101_train_split_{split}_videos.txt'
ann_file_val = f'ucf101_val_split_{split}_videos.txt'
# M3D video pre-training (its work directory: last checkpoint) or a weights file; None trains from scratch
pretrained = 'work_dirs/m33d-video_vit-base-p16_8xb24-100e_ucf101-rgbd'
num_classes = 101
clip_len = 16
frame_interval = 4
gpus, clips_per_gpu = 8, 8
batch_size = gpus * clips_per_gpu

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='RGBDViT',
        arch='base',
        modalities=dict(rgb=3),  # fine-tuning sees RGB only; the depth tubelet embedding is not loaded
        patch_size=16,
        tubelet_size=2,
        with_cls_token=False,
        # VideoMAE: mean over all tokens, then a fresh LayerNorm (the head's fc_norm); the encoder's per-token
        # final norm from pre-training is not used. Same features as mmaction2's VisionTransformer with
        # use_mean_pooling=True after tools/model_converters/m33d_to_mmaction_vit.py.
        final_norm=False,
        out_type='avg_featmap',
        drop_path_rate=0.2,
        pretrained=pretrained),
    cls_head=dict(
        type='MeanPoolNormHead',
        num_classes=num_classes,
        in_channels=768,
        dropout_ratio=0.5,
        init_std=0.02 * 0.001,  # VideoMAE: trunc-normal(0.02) scaled by init_scale 0.001
        label_smooth_eps=0.1,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],  # the statistics of M3D pre-training (RGBDDataPreprocessor)
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW',
        # timm's Mixup as VideoMAE uses it: every batch gets mixup (alpha 0.8) or cutmix (alpha 1.0), half each
        blending=dict(
            type='RandomBatchAugment',
            augments=[
                dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
                dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes),
            ])))

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop', area_range=(0.08, 1.0), aspect_ratio_range=(3 / 4, 4 / 3)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    # timm's rand-m7-n4 on the 0-10 scale: torchvision's magnitude 7 of 11 bins; the same ops for all frames
    dict(type='TorchVisionWrapper', op='RandAugment', num_ops=4, magnitude=7, num_magnitude_bins=11),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=clip_len, frame_interval=frame_interval, num_clips=5, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='ThreeCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
dataset = dict(type='VideoListDataset', data_root=data_root, data_prefix=dict(video='videos'),
               num_classes=num_classes)
train_dataloader = dict(
    batch_size=clips_per_gpu,
    num_workers=8,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(dataset, ann_file=ann_file_train, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=clips_per_gpu,
    num_workers=8,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, ann_file=ann_file_val, pipeline=val_pipeline, test_mode=True))
test_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, ann_file=ann_file_val, pipeline=test_pipeline, test_mode=True))
val_evaluator = dict(type='AccMetric')  # top-1, top-5, mean class accuracy
test_evaluator = val_evaluator

max_epochs = 100
warmup_epochs = 5
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='AmpOptimWrapper',  # fp16 on GPUs; tools/train.py switches to bf16 autocast on CPU-only machines
    optimizer=dict(type='AdamW', lr=5e-4 * batch_size / 256, betas=(0.9, 0.999), weight_decay=0.05),
    # lr x 0.7^(L + 1 - layer); no weight decay on norms, biases and position / class tokens
    constructor='RGBDViTLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.7))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=3, save_best='acc/top1', rule='greater'),
                     logger=dict(interval=20))
randomness = dict(seed=0)
