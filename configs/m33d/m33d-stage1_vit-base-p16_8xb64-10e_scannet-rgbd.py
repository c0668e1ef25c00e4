# M3D image pre-training, stage 1 (eq. 6): patch-level RGB-depth contrast only, ViT-B/16 on ScanNet frames
# (model: _base_/models/m33d_vit-base-p16.py, data: _base_/datasets/scannet_rgbd.py). Optimiser, AMP and schedule
# shape come from mmpretrain's MAE recipe; run stage 2 (m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd.py)
# afterwards, which starts from this run's work directory.
_base_ = '../_base_/datasets/scannet_rgbd.py'

# "a few epochs" (Sec. 3.3): 10 epochs, 1 of warm-up.
max_epochs = 10
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, by_epoch=True, begin=1, end=max_epochs,
         convert_to_iter_based=True),
]
# lr = 1.5e-4 * total_batch / 256 (MAE's rule); auto_scale_lr rescales it when --auto-scale-lr is given.
optim_wrapper = dict(optimizer=dict(lr=1.5e-4 * 512 / 256))
auto_scale_lr = dict(base_batch_size=512)
default_hooks = dict(logger=dict(interval=50))
