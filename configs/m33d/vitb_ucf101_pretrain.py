# Former name, kept so that existing commands keep working: it builds the same config as the file below, and
# its runs write to that file's work dir, where the follow-up recipes look for them.
_base_ = './m33d-video_vit-base-p16_8xb24-100e_ucf101-rgbd.py'
work_dir = './work_dirs/m33d-video_vit-base-p16_8xb24-100e_ucf101-rgbd'
