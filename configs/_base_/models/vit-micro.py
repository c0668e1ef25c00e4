# The quick start's encoder size, "micro": 96-d tokens, 4 layers of 3 heads, MLP 384 -- minutes of training on
# 2 CPU cores. An RGBDViT `arch` dict (not one of mmpretrain's arch names); `_delete_` replaces a recipe's arch
# name. Every quick-start and benchmark config takes it from here: model=dict(backbone=dict(arch=_base_.tiny)).
tiny = dict(_delete_=True, embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384)
