# RGB-only baseline: mmpretrain's own MAE (MAEViT + MAEPretrainDecoder + MAEPretrainHead) with the tiny
# quick-start encoder on the RGB frames of the synthetic scenes. MAEViT needs square inputs, hence square crops.
# Its checkpoints load into RGBDViT (model.backbone.pretrained=<work dir>) for fine-tuning like M3D's.
_base_ = './m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py'

crop = 128
data_preprocessor = dict(_delete_=True, type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
model = dict(
    _delete_=True,
    type='MAE',
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True),
    # the micro arch (_base_/models/vit-micro.py) without its `_delete_` marker, which the replaced dict would keep
    backbone=dict(type='MAEViT', arch={k: v for k, v in _base_.tiny.items() if k != '_delete_'}, img_size=crop,
                  patch_size=16, mask_ratio=0.75),
    neck=dict(type='MAEPretrainDecoder', num_patches=(crop // 16)**2, patch_size=16, in_chans=3, embed_dim=96,
              decoder_embed_dim=64, decoder_depth=2, decoder_num_heads=4),
    head=dict(type='MAEPretrainHead', norm_pix=True, patch_size=16,
              loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    init_cfg=[dict(type='Xavier', layer='Linear', distribution='uniform'),
              dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=crop, crop_ratio_range=(0.4, 1.0)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
