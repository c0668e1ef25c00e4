# VideoMAE's fine-tuning schedule: AdamW (betas 0.9 / 0.999, weight decay 0.05) at lr 5e-4 x batch / 256 for
# 8 GPUs x 8 clips, layer-wise lr decay 0.7 through RGBDViTLayerDecayOptimizerConstructor (which exempts norms,
# biases and tokens from weight decay, the rule of schedules/mae_pretrain.py), 100 epochs with 5 of linear warm-up
# then cosine, validation every 5 epochs, the best top-1 checkpoint kept.
_base_ = '../models/recognizer3d_vit-base-p16.py'

gpus, clips_per_gpu = 8, 8
batch_size = gpus * clips_per_gpu
max_epochs = 100
warmup_epochs = 5
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
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
