# M3D video pre-training (eq. 5): alpha*L_rgb + beta*L_depth + gamma*L_c + eta*L_m in one step, ViT-B with
# 2x16x16 tubelets on 16-frame UCF-101 clips whose depth was estimated per frame (tools/data/extract_depth.py),
# 90 % tube masks, VideoMAE's 4-block 384-d decoder, encoder initialised from self-supervised K400 VideoMAE
# (model: _base_/models/m33d-video_vit-base-p16.py, data: _base_/datasets/ucf101_rgbd_video.py). Optimiser, AMP,
# hooks and schedule shape come from mmpretrain's MAE recipe (_base_/schedules/mae_pretrain.py); see docs/video.md.
_base_ = '../_base_/datasets/ucf101_rgbd_video.py'

# 100 epochs from K400 VideoMAE weights (Table 1), 10 of warm-up.
max_epochs = 100
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 10, eta_min=1e-5 * 192 / 256, by_epoch=True, begin=10,
         end=max_epochs, convert_to_iter_based=True),
]
# VideoMAE: AdamW, betas (0.9, 0.95), weight decay 0.05, lr = 1.5e-4 * total_batch / 256; 8 GPUs x 24 clips.
optim_wrapper = dict(optimizer=dict(lr=1.5e-4 * 192 / 256))
auto_scale_lr = dict(base_batch_size=192)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=5, max_keep_ckpts=3))
