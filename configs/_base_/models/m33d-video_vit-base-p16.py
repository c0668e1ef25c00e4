# M3D video pre-training model (eq. 5): ViT-B RGBDViT shared by RGB and depth with 2 x 16 x 16 tubelets, 90 % tube
# masks, no class token, VideoMAE's 4-block 384-d decoder; alpha*L_rgb + beta*L_depth + gamma*L_c + eta*L_m in
# one step; encoder initialised from self-supervised K400 VideoMAE.
_base_ = '../schedules/mae_pretrain.py'
custom_imports = dict(
    imports=['m33d_mm.models', 'm33d_mm.datasets.rgbd_video', 'm33d_mm.datasets.transforms.video'],
    allow_failed_imports=False)

# VideoMAE's self-supervised ViT-B K400 pre-training checkpoint (release file, `encoder.` keys). Set to None to
# pre-train from scratch (the paper then trains 800 epochs instead of 100).
videomae_k400 = 'checkpoints/videomae_vit-base-p16_k400_pretrain.pth'

rgbd_preprocessor = dict(type='RGBDDataPreprocessor', depth_norm='robust')
data_preprocessor = dict(_delete_=True, **rgbd_preprocessor)  # replaces the MAE base's
model = dict(
    _delete_=True,
    type='M33D',
    data_preprocessor=rgbd_preprocessor,
    backbone=dict(
        type='RGBDViT',
        arch='base',
        patch_size=16,
        tubelet_size=2,
        mask_ratio=dict(rgb=0.9, depth=0.9),
        tube_masking=True,
        shared_encoder=True,
        with_cls_token=False,  # VideoMAE has none (mean pooling downstream), so its weights load completely
        # VideoMAE's 1-D sinusoid over the flattened (t h w) token index, the table its layers learned with;
        # its release files do not store the table, so loading cannot detect it. From scratch, 'hw' (separable
        # space-time sin-cos) is the natural choice.
        pos_embed_layout='1d',
        pretrained=videomae_k400),
    neck=dict(type='RGBDMAEDecoder', patch_size=16, tubelet_size=2, in_channels=768, embed_dims=384, num_layers=4,
              num_heads=6),
    head=dict(
        type='RGBDReconstructionHead',
        patch_size=16,
        tubelet_size=2,
        losses=dict(rgb=dict(type='RGBReconstructionLoss'), depth=dict(type='DepthReconstructionLoss', mode='mse'))),
    contrastive_loss=dict(type='PatchInfoNCELoss', tau=0.07),
    matching_head=dict(type='RGBDMatchingHead', in_channels=768),
    # alpha, beta, gamma, eta of eq. (5); the paper gives no values
    loss_weights=dict(rgb=1., depth=1., contrastive=1., matching=1.),
    cross_modal_tokens='shared_visible')
