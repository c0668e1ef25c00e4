# Former name, kept so that existing commands keep working: it builds the same config as the file below, and
# its runs write to that file's work dir, where the follow-up recipes look for them.
_base_ = './m33d-stage2_vit-base-p16_fsdp-8xb64-100e_scannet-rgbd.py'
work_dir = './work_dirs/m33d-stage2_vit-base-p16_fsdp-8xb64-100e_scannet-rgbd'
