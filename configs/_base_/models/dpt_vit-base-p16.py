# Monocular depth model after MultiMAE: the M3D ViT-B/16 encoder (RGB only, layers 2, 5, 8, 11, drop path 0.1)
# under a DPT head of width 256 in mmseg's DepthEstimator. The depth is predicted in metres (softplus output, up to
# 10 m), so MultiMAE's global target standardisation is not needed; BerHu loss on valid pixels.
# SiLog instead of BerHu: --cfg-options model.decode_head.loss_decode.type=SiLogLoss
custom_imports = dict(imports=['m33d_mm.segmentation'], allow_failed_imports=False)

# M3D stage-2 work dir (its last checkpoint) or a weights file
pretrained = 'work_dirs/m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd'

data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=0,  # padded depth is 0 = invalid, so the loss ignores it
    size=(256, 256),  # the training crop of datasets/nyuv2_depth.py
    test_cfg=dict(size_divisor=16))
model = dict(
    type='DepthEstimator',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='RGBDViT',
        arch='base',
        modalities=dict(rgb=3),
        patch_size=16,
        out_indices=(2, 5, 8, 11),
        out_type='featmap',
        drop_path_rate=0.1,
        pretrained=pretrained),
    decode_head=dict(
        type='DPTDepthHead',
        in_channels=768,
        channels=256,
        reassemble_channels=(96, 192, 384, 768),
        activation='softplus',
        max_depth=10.0,
        loss_decode=dict(type='BerHuLoss', threshold=0.2)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
