# Stage 2 of the ScanNet recipe under mmengine's FlexibleRunner with PyTorch FSDP: parameters, gradients and
# optimizer state are sharded over the GPUs (one FSDP unit per transformer layer), for encoders larger than
# ViT-B or bigger per-GPU batches. Launch as usual: bash tools/dist_train.sh THIS_CONFIG 8
# For DeepSpeed ZeRO instead: strategy = dict(type='DeepSpeedStrategy', config=dict(zero_optimization=dict(stage=2)))
# with optim_wrapper type 'DeepSpeedOptimWrapper' (needs `pip install deepspeed`).
_base_ = './m33d-stage2_vit-base-p16_8xb64-100e_scannet-rgbd.py'

runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        auto_wrap_policy=dict(type='torch.distributed.fsdp.wrap.size_based_auto_wrap_policy',
                              min_num_params=int(5e6)),
        use_orig_params=True))
# FSDP keeps its own mixed-precision policy; the base's AmpOptimWrapper becomes a plain wrapper here
optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer={{_base_.optim_wrapper.optimizer}},
                     paramwise_cfg={{_base_.optim_wrapper.paramwise_cfg}})
