# M3D image pre-training model, stage 1 (eq. 6): ViT-B/16 RGBDViT shared by RGB and depth with 80 % / 80 % masks,
# patch-level RGB-depth contrast only, encoder initialised from ImageNet MAE. Stage 2 adds the decoder and the
# reconstruction head (m33d-stage2_*.py).
_base_ = '../schedules/mae_pretrain.py'
custom_imports = dict(imports=['m33d_mm.models', 'm33d_mm.datasets', 'm33d_mm.engine'], allow_failed_imports=False)

imagenet_mae = 'checkpoints/mae_pretrain_vit_base.pth'  # official MAE release or mmpretrain MAE checkpoint

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
