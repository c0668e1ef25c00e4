# Mixing the M3D encoder into a stock mmseg recipe: mmseg's UPerNet ViT-B/16 on ADE20K with only the backbone
# swapped for RGBDViT (features of layers 2, 5, 8, 11 like the stock ViT's). Everything else -- head,
# multi-level neck, data, schedule -- is mmseg's. The stock recipe loads ImageNet weights through
# model.pretrained; here the encoder loads the M3D run itself, so model.pretrained is cleared. mmseg's recipe uses
# SyncBN in the heads: train it distributed (tools/dist_train.sh), as mmseg does.
_base_ = ['mmseg::vit/vit_vit-b16_mln_upernet_8xb2-80k_ade20k-512x512.py', '../_base_/reliability.py']
custom_imports = dict(imports=['m33d_mm.segmentation'], allow_failed_imports=False)

# M3D stage-2 work dir (its last checkpoint) or a weights file
pretrained = 'work_dirs/m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd'

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='RGBDViT',
        arch='base',
        modalities=dict(rgb=3),
        patch_size=16,
        out_indices=(2, 5, 8, 11),
        out_type='featmap',
        drop_path_rate=0.1,
        pretrained=pretrained))
auto_scale_lr = dict(base_batch_size=16)  # the stock recipe's 8 GPUs x 2 images
