#!/usr/bin/env bash
# The quick start: synthetic RGB-D data -> stage 1 (contrastive) -> stage 2 (masked RGB-D modelling) ->
# reconstruction figure -> segmentation fine-tuning from stage 2, and the same fine-tuning from random weights
# for comparison. Usage: bash tools/demo.sh [DATA_DIR] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-data/synthetic_rgbd}
WORK=${2:-work_dirs/demo}
PY=${PYTHON:-.venv/bin/python}
STEPS=6
START=$SECONDS
STEP=0
STEP_START=$SECONDS

clock() { printf '%d:%02d' $(( $1 / 60 )) $(( $1 % 60 )); }
finish_step() {
    [ "$STEP" -gt 0 ] && echo "-- [$STEP/$STEPS] done in $(clock $(( SECONDS - STEP_START ))) (total $(clock $(( SECONDS - START ))))"
    return 0
}
step() {  # one progress line per step, with the time so far
    finish_step
    STEP=$(( STEP + 1 ))
    STEP_START=$SECONDS
    echo "== [$STEP/$STEPS] $1 (at $(clock $(( SECONDS - START ))))"
}
miou() {  # the last validation mIoU a fine-tuning run logged
    grep -h "mIoU:" "$1"/*/*.log | tail -n 1 | sed -E 's/.*mIoU: ([0-9.]+).*/\1/'
}

echo "Each step starts Python, which imports torch and OpenMMLab before it prints anything (10-30 s on a busy machine)."
step "synthetic RGB-D scenes in $DATA"
$PY tools/data/generate_synthetic_rgbd.py "$DATA" --workers 2

step "stage 1: patch-level RGB-depth contrast (eq. 6)"
$PY tools/train.py configs/quickstart/m33d-stage1_vit-micro-p16_1xb16-8e_synthetic-rgbd.py --work-dir "$WORK/stage1" \
    --cfg-options train_dataloader.dataset.data_root="$DATA"

step "stage 2: masked RGB-D modelling from stage 1 (eq. 7)"
$PY tools/train.py configs/quickstart/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py --work-dir "$WORK/stage2" \
    --cfg-options train_dataloader.dataset.data_root="$DATA" model.backbone.pretrained="$WORK/stage1"

step "reconstruction figure of validation frames"
$PY tools/visualize_reconstruction.py configs/quickstart/m33d-stage2_vit-micro-p16_1xb16-30e_synthetic-rgbd.py "$WORK/stage2" \
    --cfg-options train_dataloader.dataset.data_root="$DATA" --out "$WORK/reconstruction.png"

SEG_DATA="train_dataloader.dataset.data_root=$DATA val_dataloader.dataset.data_root=$DATA test_dataloader.dataset.data_root=$DATA"
step "ScanNet-20 segmentation fine-tuning from stage 2"
$PY tools/train.py configs/quickstart/convnext-adapter_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd.py --work-dir "$WORK/seg" \
    --cfg-options $SEG_DATA model.backbone.pretrained="$WORK/stage2"

step "the same fine-tuning from random weights, for comparison"
$PY tools/train.py configs/quickstart/convnext-adapter_vit-micro-p16_m33d-pre_1xb8-200it_synthetic-rgbd.py --work-dir "$WORK/seg_random" \
    --cfg-options $SEG_DATA model.backbone.pretrained=None
finish_step

echo
echo "segmentation mIoU (%) on the held-out synthetic scenes, same fine-tuning recipe:"
echo "  encoder from M3D pre-training (stage 2): $(miou "$WORK/seg")"
echo "  encoder from random weights:             $(miou "$WORK/seg_random")"
echo "(tiny data and model: a smoke test of the pipeline, not a benchmark; see docs/finetune.md)"
echo "done in $(clock $(( SECONDS - START ))): checkpoints in $WORK/{stage1,stage2,seg,seg_random}, figure $WORK/reconstruction.png"
