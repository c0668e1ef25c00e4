# Former name, kept so that existing commands keep working: it builds the same config as the file below, and
# its runs write to that file's work dir, where the follow-up recipes look for them.
_base_ = './imageclassifier_vit-base-p16_m33d-pre_32xb128_in1k.py'
work_dir = './work_dirs/imageclassifier_vit-base-p16_m33d-pre_32xb128_in1k'
