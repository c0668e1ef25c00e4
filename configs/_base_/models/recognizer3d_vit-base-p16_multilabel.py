# Multi-label variant of the video recognition model and schedule (models/recognizer3d_vit-base-p16.py,
# schedules/videomae_finetune.py) for phase detection: sigmoid + binary cross-entropy per class, no label
# smoothing, no mixup / cutmix, views averaged as logits; mAP as the metric and checkpoint criterion.
_base_ = '../schedules/videomae_finetune.py'

model = dict(
    cls_head=dict(
        multi_class=True,
        loss_cls=dict(type='BCELossWithLogits'),
        label_smooth_eps=0.0,
        # views averaged as logits: the stock 'prob' is a softmax across classes, which suits one label per clip
        # only; mAP ranks each class's scores, which the per-class sigmoid leaves in the same order
        average_clips='score'),
    data_preprocessor=dict(blending=None))
val_evaluator = dict(type='AccMetric', metric_list=('mean_average_precision', ))
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best='acc/mean_average_precision'))
