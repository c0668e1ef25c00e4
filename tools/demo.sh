#!/usr/bin/env bash
# The quick start: synthetic RGB-D data -> stage 1 (contrastive) -> stage 2 (masked RGB-D modelling) ->
# reconstruction figure -> segmentation fine-tuning (mIoU). Usage: bash tools/demo.sh [DATA_DIR] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-data/synthetic_rgbd}
WORK=${2:-work_dirs/demo}
PY=${PYTHON:-.venv/bin/python}

echo "== 1/5 synthetic RGB-D scenes in $DATA"
$PY tools/data/generate_synthetic_rgbd.py "$DATA" --workers 2

echo "== 2/5 stage 1: patch-level RGB-depth contrast (eq. 6)"
$PY tools/train.py configs/quickstart/m33d_tiny_synthetic_stage1.py --work-dir "$WORK/stage1" \
    --cfg-options train_dataloader.dataset.data_root="$DATA"

echo "== 3/5 stage 2: masked RGB-D modelling from stage 1 (eq. 7)"
$PY tools/train.py configs/quickstart/m33d_tiny_synthetic_stage2.py --work-dir "$WORK/stage2" \
    --cfg-options train_dataloader.dataset.data_root="$DATA" model.backbone.pretrained="$WORK/stage1"

echo "== 4/5 reconstruction figure"
$PY tools/visualize_reconstruction.py configs/quickstart/m33d_tiny_synthetic_stage2.py "$WORK/stage2" \
    --cfg-options train_dataloader.dataset.data_root="$DATA" --out "$WORK/reconstruction.png"

echo "== 5/5 ScanNet-20 segmentation fine-tuning from stage 2 (val scenes)"
$PY tools/train.py configs/quickstart/m33d_tiny_synthetic_seg.py --work-dir "$WORK/seg" \
    --cfg-options train_dataloader.dataset.data_root="$DATA" val_dataloader.dataset.data_root="$DATA" \
    test_dataloader.dataset.data_root="$DATA" model.backbone.pretrained="$WORK/stage2"
echo "segmentation on the held-out synthetic scenes:"
grep -h "mIoU:" "$WORK"/seg/*/*.log | tail -n 1 | sed 's/.*Iter(val)/  Iter(val)/'
echo "done: checkpoints in $WORK/stage1, $WORK/stage2 and $WORK/seg, figure $WORK/reconstruction.png"
