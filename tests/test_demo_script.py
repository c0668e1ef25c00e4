"""tools/demo.sh (make demo): one progress line per step and, at the end, the fine-tuning result from pre-training
next to the same fine-tuning from random weights. Run here with a stand-in Python that logs like the tools."""
import os
import subprocess

from conftest import REPO

FAKE_PYTHON = r'''#!/bin/sh
# records each call; a fine-tuning run logs a validation line as mmengine does
echo "$@" >> "$CALLS"
work=""; pretrained=""
while [ $# -gt 0 ]; do
    case "$1" in
        --work-dir) work="$2"; shift ;;
        model.backbone.pretrained=*) pretrained="${1#*=}" ;;
    esac
    shift
done
case "$work" in
    */seg|*/seg_random)
        mkdir -p "$work/20260101_000000"
        if [ "$pretrained" = None ]; then value=3.2100; else value=12.3400; fi
        log="$work/20260101_000000/20260101_000000.log"
        echo "Iter(val) [2/2]    aAcc: 50.0000  mIoU: $value  mAcc: 20.0000" > "$log" ;;
esac
'''


def test_demo_prints_a_line_per_step_and_compares_with_random_weights(tmp_path):
    python = tmp_path / 'python'
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    calls = tmp_path / 'calls'
    proc = subprocess.run(['bash', 'tools/demo.sh', str(tmp_path / 'data'), str(tmp_path / 'work')], cwd=REPO,
                          env=dict(os.environ, PYTHON=str(python), CALLS=str(calls)), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for n in range(1, 7):
        assert f'== [{n}/6] ' in out and f'-- [{n}/6] done in ' in out
    assert 'encoder from M3D pre-training (stage 2): 12.3400' in out
    assert 'encoder from random weights:             3.2100' in out
    runs = calls.read_text().splitlines()
    assert len(runs) == 6
    assert 'model.backbone.pretrained=None' in runs[-1] and f'pretrained={tmp_path}/work/stage2' in runs[-2]
