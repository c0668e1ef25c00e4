# Root of every pre-training config: mmpretrain's MAE recipe (runtime, AMP AdamW with betas (0.9, 0.95) and weight
# decay 0.05, linear warm-up then cosine, checkpoint hook, seeds) with fused AdamW (one kernel per update instead
# of a chain of elementwise ops, docs/benchmarks.md) and the project's no-decay rules in place of MAE's name-based
# ones, which miss norms not called `ln`. The stock recipe also defines model and data keys, so the pre-training
# bases chain on this file (models/ on it, datasets/ on models/) instead of sitting beside it.
_base_ = ['mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py', '../reliability.py']

# No weight decay for every 1-D parameter (norm weights, biases, layer scales), the position table, the class and
# mask tokens and the decoder's per-modality embeddings. The rule goes by shape (flat_decay_mult), so it holds
# whatever a module calls its norms. It is the rule of the fine-tuning recipes' layer-decay constructor too
# (tests/test_config_tree.py checks both on built models); configs that change the optimiser wrapper keep it
# with paramwise_cfg=_base_.optim_wrapper.paramwise_cfg.
optim_wrapper = dict(
    optimizer=dict(fused=True),
    paramwise_cfg=dict(
        _delete_=True,
        flat_decay_mult=0.,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'modality_embed': dict(decay_mult=0.),
        }))
