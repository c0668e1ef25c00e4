# Former name, kept so that existing commands keep working: it builds the same config as the file below, and
# its runs write to that file's work dir, where the follow-up recipes look for them.
_base_ = './upernet_vit-base-p16_m33d-pre_8xb2-80k_ade20k-512x512.py'
work_dir = './work_dirs/upernet_vit-base-p16_m33d-pre_8xb2-80k_ade20k-512x512'
