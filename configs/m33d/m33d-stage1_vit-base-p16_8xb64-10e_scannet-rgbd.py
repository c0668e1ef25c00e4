# M3D image pre-training, stage 1 (eq. 6): patch-level RGB-depth contrast only, ViT-B/16 on ScanNet frames.
# Optimiser, AMP and schedule shape come from mmpretrain's MAE recipe; run stage 2
# (m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd.py) afterwards, which starts from this run's work directory.
_base_ = ['mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py', '../_base_/reliability.py']
custom_imports = dict(imports=['m33d_mm.models', 'm33d_mm.datasets', 'm33d_mm.engine'], allow_failed_imports=False)

data_root = 'data/scannet_frames'  # <scene>/color/*.jpg + <scene>/depth/*.png (uint16 mm)
imagenet_mae = 'checkpoints/mae_pretrain_vit_base.pth'  # official MAE release or mmpretrain MAE checkpoint
crop_size = (224, 224)

rgbd_preprocessor = dict(type='RGBDDataPreprocessor', depth_norm='robust')
data_preprocessor = dict(_delete_=True, **rgbd_preprocessor)  # replaces the MAE base's
model = dict(
    _delete_=True,
    type='M33D',
    data_preprocessor=rgbd_preprocessor,
    backbone=dict(type='RGBDViT', arch='base', patch_size=16, mask_ratio=dict(rgb=0.8, depth=0.8),
                  shared_encoder=True, pretrained=imagenet_mae),
    # eq. (3) as written: negatives from the same image. negatives='batch' closes the position shortcut that
    # within-image negatives leave open (docs/method.md, docs/results.md).
    contrastive_loss=dict(type='PatchInfoNCELoss', tau=0.07, negatives='image'),
    loss_weights=dict(rgb=0., depth=0., contrastive=1.),
    cross_modal_tokens='all')

train_pipeline = [
    dict(type='LoadRGBDFromFile', depth_scale=1000.),
    dict(type='RGBDRandomResizedCrop', scale=crop_size, crop_ratio_range=(0.2, 1.0)),
    dict(type='RGBDRandomFlip', prob=0.5),
    dict(type='PackRGBDInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=False,
    # the MAE base's collate_fn carries a _scope_ key that the runner would pass on to the function
    collate_fn=dict(_delete_=True, type='pseudo_collate'),
    dataset=dict(_delete_=True, type='RGBDFrameDataset', data_root=data_root,
                 split_file='splits/scannetv2_train.txt', frame_skip=25, pipeline=train_pipeline))

# "a few epochs" (Sec. 3.3): 10 epochs, 1 of warm-up.
max_epochs = 10
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, by_epoch=True, begin=1, end=max_epochs,
         convert_to_iter_based=True),
]
# lr = 1.5e-4 * total_batch / 256 (MAE's rule); auto_scale_lr rescales it when --auto-scale-lr is given.
# fused AdamW: one kernel per update instead of a chain of elementwise ops (docs/benchmarks.md)
optim_wrapper = dict(optimizer=dict(lr=1.5e-4 * 512 / 256, fused=True))
auto_scale_lr = dict(base_batch_size=512)
default_hooks = dict(logger=dict(interval=50))
randomness = dict(seed=0, diff_rank_seed=True)
