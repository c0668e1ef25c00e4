# The dense fine-tuning schedule (seg_adamw-layer-decay_40k.py: AdamW, layer-wise lr decay, no-decay rules)
# shrunk to the quick start: 200 iterations at lr 1e-3 for batch 8 in one process, 20 of linear warm-up then
# cosine, one validation and one checkpoint at the end.
_base_ = './seg_adamw-layer-decay_40k.py'

max_iters = 200
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=20, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
