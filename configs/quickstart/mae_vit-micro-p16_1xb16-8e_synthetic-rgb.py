# RGB-only baseline: mmpretrain's own MAE (models/mae_vit-micro-p16.py) with the micro encoder of the M3D quick
# start, on the RGB frames of the synthetic scenes, with its schedule (the stage-1 quick start's). Its checkpoints
# load into RGBDViT (model.backbone.pretrained=<work dir>) for fine-tuning like M3D's.
_base_ = ['./m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py', '../_base_/models/mae_vit-micro-p16.py']

data_preprocessor = dict(_base_.mae_preprocessor, _delete_=True)
# the micro arch without its `_delete_` marker, which a replaced model would keep
model = dict(_base_.mae, _delete_=True,
             backbone=dict(_base_.mae.backbone, arch={k: v for k, v in _base_.tiny.items() if k != '_delete_'}))
train_pipeline = _base_.mae_train_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
