# Former name, kept so that existing commands keep working: it builds the same config as the file below, and
# its runs write to that file's work dir, where the follow-up recipes look for them.
_base_ = './m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py'
work_dir = './work_dirs/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd'
