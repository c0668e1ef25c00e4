# The depth fine-tuning schedule (depth_adamw-layer-decay_20k.py) shrunk to the quick start: the 200 iterations of
# seg_adamw-layer-decay_quickstart-200it.py with the depth recipe's weight decay and its best-delta_1 checkpoint.
_base_ = './seg_adamw-layer-decay_quickstart-200it.py'

optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
default_hooks = dict(checkpoint=dict(save_best='d1', rule='greater'))
