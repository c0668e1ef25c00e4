# Semantic segmentation model: the M3D ViT-B/16 encoder (RGB only, features of the last layer, drop path 0.1)
# under MultiMAE's ConvNeXt adapter head, in mmseg's EncoderDecoder; 20 ScanNet classes, label 255 ignored.
custom_imports = dict(imports=['m33d_mm.segmentation'], allow_failed_imports=False)

# M3D stage-2 work dir (its last checkpoint) or a weights file
pretrained = 'work_dirs/m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd'
num_classes = 20

data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(240, 320),  # the training crop of datasets/scannet_seg.py
    test_cfg=dict(size_divisor=16))  # whole-image inference needs sizes divisible by the patch size
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='RGBDViT',
        arch='base',
        modalities=dict(rgb=3),
        patch_size=16,
        out_indices=(11, ),
        out_type='featmap',
        drop_path_rate=0.1,
        pretrained=pretrained),
    decode_head=dict(
        type='ConvNeXtAdapterHead',
        in_channels=768,
        channels=384,
        num_blocks=4,
        num_classes=num_classes,
        ignore_index=255,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
