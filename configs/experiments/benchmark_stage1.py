# Pre-training on the benchmark scenes (m33d_mm/synthetic/benchmark.py): the quick-start tiny ViT with 8-px
# patches on 64x64 frames, iteration-based, one process and no loader workers (tools/experiments/
# benchmark_study.py runs jobs single-threaded side by side). Stage 1: patch-level RGB-depth contrast.
_base_ = '../quickstart/m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py'

data_root = 'work_dirs/study_v2/data'
size = (64, 64)
max_iters = 1000
warmup = 50

model = dict(backbone=dict(patch_size=8))
train_pipeline = [
    dict(type='LoadRGBDFromFile', depth_scale=1000.),
    dict(type='RGBDRandomResizedCrop', scale=size, crop_ratio_range=(0.5, 1.0)),
    dict(type='RGBDRandomFlip', prob=0.5),
    dict(type='PackRGBDInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, split_file='splits/unlabelled.txt', frame_skip=1, pipeline=train_pipeline))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
# the study's runs decay every parameter, as the quick start did before its no-decay rules; kept so that the
# runs stay comparable
optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer=_base_.optim_wrapper.optimizer)
# warm-up, then a cosine that the runner ends at train_cfg.max_iters, whatever the run's length
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup),
]
# the lr of every iteration is logged, so the study can sum lr / peak over the run
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(by_epoch=False, interval=10**9, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
