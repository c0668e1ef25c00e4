# The RGB-only baseline model: mmpretrain's own MAE (MAEViT + MAEPretrainDecoder + MAEPretrainHead, the settings of
# its ViT-B recipe: 75 % random masks, normalised-pixel L2 loss, Xavier / unit-LayerNorm init) with a 2-layer 64-d
# decoder for the quick start's micro encoder, whose arch the config adds from models/vit-micro.py. MAEViT needs
# square inputs, hence square crops and an RGB-only pipeline. Named parts instead of `model`: they replace the
# model, preprocessor and pipeline of an M3D pre-training config it sits beside (whose chain defines those keys):
#   model = dict(_base_.mae, _delete_=True, backbone=dict(_base_.mae.backbone, arch=...))
crop = 128
mae_preprocessor = dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                        to_rgb=True)
mae = dict(
    type='MAE',
    data_preprocessor=mae_preprocessor,
    backbone=dict(type='MAEViT', img_size=crop, patch_size=16, mask_ratio=0.75),
    neck=dict(type='MAEPretrainDecoder', num_patches=(crop // 16)**2, patch_size=16, in_chans=3, embed_dim=96,
              decoder_embed_dim=64, decoder_depth=2, decoder_num_heads=4),
    head=dict(type='MAEPretrainHead', norm_pix=True, patch_size=16,
              loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    init_cfg=[dict(type='Xavier', layer='Linear', distribution='uniform'),
              dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)])
mae_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=crop, crop_ratio_range=(0.4, 1.0)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
