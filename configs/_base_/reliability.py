# Guards every recipe gets (pre-training image and video, segmentation, depth, action recognition):
# stop before non-finite losses, weights or optimiser states are checkpointed; resume with the random streams of
# the interrupted run; let a learning rate changed at resume take effect. Importing m33d_mm (any of the recipes'
# custom_imports) registers the hooks and makes checkpoint saving atomic. The recipes' loaders set
# persistent_workers=False: the random streams of persistent workers cannot be restored on resume, so only
# non-persistent ones resume bit for bit. See docs/reliability.md.
custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='RNGStateHook'), dict(type='ResumeLRHook')]
