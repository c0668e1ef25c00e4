# Multi-label variant of the video recognition model and schedule (models/recognizer3d_vit-base-p16.py,
# schedules/videomae_finetune.py) for phase detection: sigmoid + binary cross-entropy per class, no label
# smoothing, no mixup / cutmix, views averaged as probabilities; mAP as the metric and checkpoint criterion.
_base_ = '../schedules/videomae_finetune.py'

model = dict(
    cls_head=dict(
        multi_class=True,
        loss_cls=dict(type='BCELossWithLogits'),
        label_smooth_eps=0.0,
        average_clips='prob'),  # sigmoid probabilities of the views, averaged
    data_preprocessor=dict(blending=None))
val_evaluator = dict(type='AccMetric', metric_list=('mean_average_precision', ))
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best='acc/mean_average_precision'))
