# Dense fine-tuning schedule after MultiMAE: AdamW (lr 1e-4 for a total batch of 8, weight decay 0.05), layer-wise
# lr decay 0.75 through RGBDViTLayerDecayOptimizerConstructor (which also exempts norms, biases and tokens from
# weight decay, the rule of schedules/mae_pretrain.py), linear warm-up then cosine over mmseg's 40k-iteration loop.
_base_ = 'mmseg::_base_/schedules/schedule_40k.py'

max_iters = 40000
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='RGBDViTLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
auto_scale_lr = dict(base_batch_size=8)  # the lr above is for a total batch of 8 (--auto-scale-lr)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1500),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=1500, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=4000)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=4000, max_keep_ckpts=2, save_best='mIoU'))
randomness = dict(seed=0)
