# Stage 2 of the ScanNet recipe on the synthetic RGB-D scenes with the micro ViT, starting from the stage-1 run
# of m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py; same schedule shape as stage 1 (its cosine ends
# with this run's max_epochs).
_base_ = './m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py'

stage1 = 'work_dirs/m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd'

model = dict(
    backbone=dict(pretrained=stage1),
    neck=dict(type='RGBDMAEDecoder', patch_size=16, in_channels=96, embed_dims=64, num_layers=2, num_heads=4),
    head=dict(type='RGBDReconstructionHead', patch_size=16),
    contrastive_loss=None,
    loss_weights=dict(rgb=1., depth=1., contrastive=0.))

max_epochs = 30
train_cfg = dict(max_epochs=max_epochs)
