# Video recognition model on mmaction2's stock VideoMAE ViT-B recipe (its runtime, Recognizer3D, preprocessing and
# 5-clip x 3-crop test pipeline): the M3D ViT-B video encoder on RGB clips (2 x 16 x 16 tubelets, drop path 0.2)
# and VideoMAE's head -- mean over all tokens and a fresh LayerNorm (the encoder's 'avg_featmap' output), then the
# stock TimeSformerHead: dropout 0.5, a linear classifier initialised at 0.001 x trunc-normal(0.02) -- with mixup
# 0.8 / cutmix 1.0 and label smoothing 0.1. The stock recipe defines data
# keys too, so the action bases chain on this file (schedules/ on it, datasets/ on schedules/).
_base_ = ['mmaction::recognition/videomae/vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400.py', '../reliability.py']
custom_imports = dict(imports=['m33d_mm.action'], allow_failed_imports=False)

# M3D video pre-training (its work directory: last checkpoint) or a weights file; None trains from scratch
pretrained = 'work_dirs/m33d-video_vit-base-p16_8xb24-100e_ucf101-rgbd'
num_classes = 101

model = dict(
    backbone=dict(
        _delete_=True,
        type='RGBDViT',
        arch='base',
        modalities=dict(rgb=3),  # fine-tuning sees RGB only; the depth tubelet embedding is not loaded
        patch_size=16,
        tubelet_size=2,
        with_cls_token=False,
        # VideoMAE: mean over all tokens, then a fresh LayerNorm (ln2, VideoMAE's fc_norm); the encoder's per-token
        # final norm from pre-training is not used. Same features as mmaction2's VisionTransformer with
        # use_mean_pooling=True after tools/model_converters/m33d_to_mmaction_vit.py.
        final_norm=False,
        out_type='avg_featmap',
        drop_path_rate=0.2,
        pretrained=pretrained),
    # the stock TimeSformerHead
    cls_head=dict(
        num_classes=num_classes,
        dropout_ratio=0.5,
        init_std=0.02 * 0.001,  # VideoMAE: trunc-normal(0.02) scaled by init_scale 0.001
        label_smooth_eps=0.1),
    # the statistics of M3D pre-training (RGBDDataPreprocessor) are the stock ones; timm's Mixup as VideoMAE uses
    # it: every batch gets mixup (alpha 0.8) or cutmix (alpha 1.0), half each
    data_preprocessor=dict(
        blending=dict(
            type='RandomBatchAugment',
            augments=[
                dict(type='MixupBlending', alpha=0.8, num_classes=num_classes),
                dict(type='CutmixBlending', alpha=1.0, num_classes=num_classes),
            ])))
