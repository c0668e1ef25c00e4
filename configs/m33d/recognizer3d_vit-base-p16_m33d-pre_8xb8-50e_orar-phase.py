# OR-AR surgical phase detection (Sec. 4.2.2, Table 2): clip-level multi-label classification over the 9
# workflow phases of long OR recordings, metric mAP, with 5 / 10 / 20 / 100 % of the training videos labelled.
# The M3D ViT-B encoder (pre-trained with configs/m33d/m33d-video_vit-base-p16_8xb24-100e_orar-rgbd.py) sees RGB clips only. Recipe: the
# UCF-101 one (AdamW, layer decay 0.7, drop path 0.2, dropout 0.5, RandAugment, random erasing) without
# mixup / cutmix / label smoothing, sigmoid + binary cross-entropy per phase; the paper gives no OR-AR schedule,
# the 50 epochs are our choice. Data layout and label budgets: docs/finetune_video.md.
_base_ = './recognizer3d_vit-base-p16_m33d-pre_8xb8-100e_ucf101.py'

# videos/<video_id>/rgb/000000.jpg ..., annotations/phase_segments.txt, annotations/phase_{train,val,test}.txt
data_root = 'data/orar'
label_budget = 0.05  # fraction of the training videos whose labels are used: 0.05, 0.1, 0.2 or 1.0
label_seed = 0  # which videos a budget keeps; budgets of one seed are nested
pretrained = 'work_dirs/m33d-video_vit-base-p16_8xb24-100e_orar-rgbd'
num_classes = 9
clip_len = 16
frame_interval = 4  # as in pre-training: a clip spans 2 s at 30 fps
window_len = 300  # phases last minutes: every 10 s (at 30 fps) of a segment is one sample

model = dict(
    backbone=dict(pretrained=pretrained),
    cls_head=dict(
        num_classes=num_classes,
        multi_class=True,
        loss_cls=dict(type='BCELossWithLogits'),
        label_smooth_eps=0.0,
        average_clips='prob'),  # sigmoid probabilities of the views, averaged
    data_preprocessor=dict(blending=None))

train_pipeline = [
    dict(type='SampleWindowClips', clip_len=clip_len, frame_interval=frame_interval),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop', area_range=(0.08, 1.0), aspect_ratio_range=(3 / 4, 4 / 3)),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='TorchVisionWrapper', op='RandAugment', num_ops=4, magnitude=7, num_magnitude_bins=11),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
val_pipeline = [
    dict(type='SampleWindowClips', clip_len=clip_len, frame_interval=frame_interval, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
test_pipeline = [
    dict(type='SampleWindowClips', clip_len=clip_len, frame_interval=frame_interval, num_clips=5, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='ThreeCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
dataset = dict(
    _delete_=True,
    type='PhaseClipDataset',
    data_root=data_root,
    data_prefix=dict(video='videos'),
    segment_file='annotations/phase_segments.txt',
    num_classes=num_classes,
    rgb_template='{video_id}/rgb',  # '{video_id}/rgb.mp4' for video files (then DecordInit before sampling)
    window_len=window_len,
    min_overlap=0.5)
train_dataloader = dict(
    dataset=dict(dataset, ann_file='annotations/phase_train.txt', label_fraction=label_budget,
                 label_seed=label_seed, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(dataset, ann_file='annotations/phase_val.txt', pipeline=val_pipeline, test_mode=True))
test_dataloader = dict(
    dataset=dict(dataset, ann_file='annotations/phase_test.txt', pipeline=test_pipeline, test_mode=True))
val_evaluator = dict(_delete_=True, type='AccMetric', metric_list=('mean_average_precision', ))
test_evaluator = val_evaluator

max_epochs = 50
warmup_epochs = 5
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-6, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(save_best='acc/mean_average_precision'))
