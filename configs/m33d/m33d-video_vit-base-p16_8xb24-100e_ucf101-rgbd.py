# M3D video pre-training (eq. 5): alpha*L_rgb + beta*L_depth + gamma*L_c + eta*L_m in one step, ViT-B with
# 2x16x16 tubelets on 16-frame UCF-101 clips whose depth was estimated per frame (tools/data/extract_depth.py),
# 90 % tube masks, VideoMAE's 4-block 384-d decoder, encoder initialised from self-supervised K400 VideoMAE.
# Optimiser, AMP, hooks and schedule shape come from mmpretrain's MAE recipe; see docs/video.md.
_base_ = ['mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py', '../_base_/reliability.py']
custom_imports = dict(
    imports=['m33d_mm.models', 'm33d_mm.datasets.rgbd_video', 'm33d_mm.datasets.transforms.video'],
    allow_failed_imports=False)

# videos/<class>/<video>.avi, depth/<class>/<video>/<frame>.png and the list written by extract_depth.py
data_root = 'data/ucf101'
# VideoMAE's self-supervised ViT-B K400 pre-training checkpoint (release file, `encoder.` keys). Set to None to
# pre-train from scratch (the paper then trains 800 epochs instead of 100).
videomae_k400 = 'checkpoints/videomae_vit-base-p16_k400_pretrain.pth'
clip_len = 16
frame_interval = 4  # VideoMAE's UCF-101 sampling rate
crop_size = (224, 224)

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
    matching_loss=dict(type='RGBDMatchingLoss', in_channels=768),
    # alpha, beta, gamma, eta of eq. (5); the paper gives no values
    loss_weights=dict(rgb=1., depth=1., contrastive=1., matching=1.),
    cross_modal_tokens='shared_visible')

train_pipeline = [
    # a few UCF-101 videos are shorter than the 61 frames a 16 x 4 clip spans: sample them more densely
    dict(type='LoadRGBDVideoClip', clip_len=clip_len, frame_interval=frame_interval, short_video='shrink'),
    dict(type='RGBDClipRandomResizedCrop', scale=crop_size, crop_ratio_range=(0.4, 1.0)),
    dict(type='RGBDClipRandomFlip', prob=0.5),
    dict(type='PackRGBDClipInputs'),
]
train_dataloader = dict(
    batch_size=24,
    num_workers=8,
    persistent_workers=False,
    # the MAE base's collate_fn carries a _scope_ key that the runner would pass on to the function
    collate_fn=dict(_delete_=True, type='pseudo_collate'),
    dataset=dict(
        _delete_=True,
        type='RGBDVideoDataset',
        data_root=data_root,
        ann_file='annotations/ucf101_rgbd_train_split_1.txt',
        data_prefix=dict(rgb='videos', depth='depth'),
        pipeline=train_pipeline))

# 100 epochs from K400 VideoMAE weights (Table 1), 10 of warm-up.
max_epochs = 100
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 10, eta_min=1e-5 * 192 / 256, by_epoch=True, begin=10,
         end=max_epochs, convert_to_iter_based=True),
]
# VideoMAE: AdamW, betas (0.9, 0.95), weight decay 0.05, lr = 1.5e-4 * total_batch / 256; 8 GPUs x 24 clips.
optim_wrapper = dict(
    optimizer=dict(lr=1.5e-4 * 192 / 256, fused=True),  # fused AdamW, as in the image recipe
    paramwise_cfg=dict(custom_keys={
        'norm': dict(decay_mult=0.),
        'modality_embed': dict(decay_mult=0.),
    }))
auto_scale_lr = dict(base_batch_size=192)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=5, max_keep_ckpts=3))
