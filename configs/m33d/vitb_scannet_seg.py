# Former name, kept so that existing commands keep working: it builds the same config as the file below, and
# its runs write to that file's work dir, where the follow-up recipes look for them.
_base_ = './convnext-adapter_vit-base-p16_m33d-pre_1xb8-40k_scannet-240x320.py'
work_dir = './work_dirs/convnext-adapter_vit-base-p16_m33d-pre_1xb8-40k_scannet-240x320'
