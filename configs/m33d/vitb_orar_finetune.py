# Former name, kept so that existing commands keep working: it builds the same config as the file below, and
# its runs write to that file's work dir, where the follow-up recipes look for them.
_base_ = './recognizer3d_vit-base-p16_m33d-pre_8xb8-50e_orar-phase.py'
work_dir = './work_dirs/recognizer3d_vit-base-p16_m33d-pre_8xb8-50e_orar-phase'
