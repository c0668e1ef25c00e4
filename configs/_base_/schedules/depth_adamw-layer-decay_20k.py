# Depth fine-tuning schedule: the dense schedule of seg_adamw-layer-decay_40k.py with MultiMAE's depth settings --
# weight decay 1e-4, lr 1e-4 for a total batch of 16 -- over 20k iterations (1k of warm-up), the checkpoint with
# the best delta_1 kept.
_base_ = './seg_adamw-layer-decay_40k.py'

max_iters = 20000
optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
auto_scale_lr = dict(base_batch_size=16)  # the lr is for a total batch of 16 (--auto-scale-lr)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=1000, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=2000)
default_hooks = dict(checkpoint=dict(interval=2000, save_best='d1', rule='greater'))
