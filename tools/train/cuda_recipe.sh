#!/usr/bin/env bash
# One shot on a CUDA GPU (about 8 minutes on an H100/H200-class card): continue the teacher from
# the committed weights, distil it again by ECT, export both, write fp16 packages and evaluate,
# with every log in one output folder.
#
#   tools/train/cuda_recipe.sh OUT_DIR [DATA_DIR]
#
# DATA_DIR holds make_dataset.py's textures_<S>.pt (default ~/.cache/tessera/data); a machine
# without network gets a copy of it. The fp16 packages are written by tessera-convert when a built
# one is found ($TESSERA_CONVERT, or build/tools/convert/tessera-convert), else the exports are
# left for converting here. Settings come from the environment, so the same script runs a tiny
# smoke test on a CPU:
#   DEVICE=cpu TEACHER_MIN=0.3 ECT_STEPS=4 ECT_STAGE_STEPS=2 BATCH=4 EVAL_IMAGES=4 CLASSIFIER_STEPS=20 CLASS_SAMPLES=1 \
#     tools/train/cuda_recipe.sh /tmp/recipe-smoke
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:?usage: cuda_recipe.sh OUT_DIR [DATA_DIR]}"
data="${2:-$HOME/.cache/tessera/data}"
py="${PYTHON:-python3}"
device="${DEVICE:-cuda}"
batch="${BATCH:-256}"
teacher_min="${TEACHER_MIN:-4.5}"         # minutes of teacher training
teacher_lr="${TEACHER_LR:-4e-4}"          # larger batch, larger step (square-root scaling from 2e-4 at 16, capped)
ect_steps="${ECT_STEPS:-1500}"
ect_stage="${ECT_STAGE_STEPS:-250}"       # steps per ECT stage; the 4th stage runs until ECT_STEPS
ect_lr="${ECT_LR:-2e-4}"
eval_images="${EVAL_IMAGES:-0}"           # 0: the whole held-out set
class_samples="${CLASS_SAMPLES:-16}"      # generated textures per class for the class accuracy
clf_steps="${CLASSIFIER_STEPS:-3000}"     # the class-accuracy judge, trained on the training textures only
init="${INIT:-$root/models/teacher.tsr}"
convert="${TESSERA_CONVERT:-$root/build/tools/convert/tessera-convert}"
mkdir -p "$out"
exec > >(tee -a "$out/recipe.log") 2>&1
echo "recipe: device $device, batch $batch, teacher ${teacher_min} min from $(basename "$init"), ECT $ect_steps steps"
"$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
threads="$(nproc)"
start=$(date +%s)

"$py" "$here/train_edm.py" --run-dir "$out/teacher" --data "$data" --device "$device" --threads "$threads" \
  --init "$init" --batch "$batch" --lr "$teacher_lr" --warmup 100 --max-wall-min "$teacher_min" \
  --val-min 0 --snapshot-every 0 --log-every 20 --pid-file "$out/teacher.pid"

"$py" "$here/distill_ect.py" --teacher "$out/teacher/checkpoint.pt" --run-dir "$out/ect" --data "$data" \
  --device "$device" --threads "$threads" --batch "$batch" --lr "$ect_lr" --steps "$ect_steps" \
  --double-every "$ect_stage" --max-stage 3 --log-every 20 --pid-file "$out/ect.pid"

for kind in teacher ect; do
  "$py" "$here/export.py" --checkpoint "$out/$kind/checkpoint.pt" --out "$out/export/$kind" --data "$data"
done
if [ -x "$convert" ]; then
  "$convert" "$out/export/teacher" "$out/teacher.tsr" --fp16
  "$convert" "$out/export/ect" "$out/default.tsr" --fp16
  ls -l "$out"/*.tsr
  for f in "$out"/*.tsr; do
    [ "$(stat -c %s "$f")" -lt $((16 * 1024 * 1024)) ] || { echo "$f is not under 16 MiB" >&2; exit 1; }
  done
else
  echo "no tessera-convert at $convert: convert $out/export/{teacher,ect} with --fp16 where one is built"
fi

"$py" "$here/classifier.py" --train --steps "$clf_steps" --threads "$threads" --data "$data" \
  --out "$out/classifier.pt"
"$py" "$here/evaluate.py" --teacher "$out/teacher/checkpoint.pt" --student "$out/ect/checkpoint.pt" \
  --data "$data" --out "$out/eval" --max-images "$eval_images" --threads "$threads" \
  --classifier "$out/classifier.pt" --class-samples "$class_samples" --grid-cols "$((class_samples < 6 ? class_samples : 6))" \
  --grid-dir "$out/grids"
echo "recipe done in $(( $(date +%s) - start )) s; logs, checkpoints, exports and eval in $out"
