# M3D image pre-training, stage 2 (eq. 7): masked RGB-D modelling, alpha*L_rgb + beta*L_depth, ViT-B/16 with
# 80 % / 80 % masks, encoder initialised from stage 1 (m33d-stage1_vit-base-p16_8xb64-10e_scannet-rgbd.py).
_base_ = './m33d-stage1_vit-base-p16_8xb64-10e_scannet-rgbd.py'

data_root = 'data/scannet_frames'
# stage-1 work dir (its last checkpoint) or weights file
stage1 = 'work_dirs/m33d-stage1_vit-base-p16_8xb64-10e_scannet-rgbd'

model = dict(
    backbone=dict(pretrained=stage1),
    neck=dict(type='RGBDMAEDecoder', patch_size=16, in_channels=768, embed_dims=256, num_layers=2,
              num_heads=8),
    head=dict(type='RGBDReconstructionHead', patch_size=16,
              losses=dict(rgb=dict(type='RGBReconstructionLoss'),
                          depth=dict(type='DepthReconstructionLoss', mode='l1'))),
    contrastive_loss=None,
    loss_weights=dict(rgb=1., depth=1., contrastive=0.))
train_dataloader = dict(dataset=dict(data_root=data_root))

max_epochs = 100
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 10, by_epoch=True, begin=10, end=max_epochs,
         convert_to_iter_based=True),
]
