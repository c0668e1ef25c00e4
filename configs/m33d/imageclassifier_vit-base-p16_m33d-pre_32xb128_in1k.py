# Mixing example: a STOCK mmpretrain recipe (ViT-B/16 ImageNet classification, MAE fine-tuning settings) with
# only the backbone swapped for the M3D encoder, initialised from an M3D pre-training run. Everything else --
# head, data pipeline, optimiser, schedule -- is mmpretrain's own.
_base_ = 'mmpretrain::vision_transformer/vit-base-p16_32xb128-mae_in1k.py'
custom_imports = dict(imports=['m33d_mm.models'], allow_failed_imports=False)

# stage-2 work dir (or a converted weights file)
m33d_pretrain = 'work_dirs/m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd'

model = dict(
    backbone=dict(
        _delete_=True,
        type='RGBDViT',
        arch='base',
        patch_size=16,
        modalities=dict(rgb=3),  # fine-tuning sees RGB only
        out_type='cls_token',
        drop_path_rate=0.1,
        pretrained=m33d_pretrain))
