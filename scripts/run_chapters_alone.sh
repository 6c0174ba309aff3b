#!/usr/bin/env bash
# Run every chapter as a reader on Colab does: a fresh virtual environment that installs the package from git (this
# repository's committed HEAD, where Colab's setup cell installs the published tag), each notebook copied alone into
# an empty folder, executed top to bottom at the smoke budget. Prints one line a chapter and exits 1 if any failed.
#   bash scripts/run_chapters_alone.sh            # DDPM_BUDGET=smoke; WORK=/tmp/chapters_alone
# The environment gets the CPU build of torch pinned in requirements.txt (an unpinned torch pulls the CUDA build),
# then `pip install "ddpm-from-scratch @ git+file://<this repository>@<HEAD>"` and Jupyter's executor.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=${WORK:-/tmp/chapters_alone}
BUDGET=${DDPM_BUDGET:-smoke}
HEAD=$(git rev-parse HEAD)
rm -rf "$WORK" && mkdir -p "$WORK"
python3 -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q "$(grep '^torch==' requirements.txt)" nbconvert ipykernel \
    "ddpm-from-scratch @ git+file://$REPO@$HEAD" || { echo "install failed"; exit 1; }
echo "installed ddpm-from-scratch at $HEAD: $(cd "$WORK" && "$PY" -c 'import ddpm_from_scratch as d; print(d.__version__, d.__file__)')"
failed=0
for notebook in book/[0-9][0-9]_*.ipynb; do
    name=$(basename "$notebook" .ipynb)
    folder="$WORK/$name" && mkdir -p "$folder" && cp "$notebook" "$folder/"
    start=$SECONDS
    if (cd "$folder" && DDPM_BUDGET=$BUDGET TQDM_DISABLE=1 timeout 900 "$PY" -m jupyter nbconvert \
            --to notebook --execute --ExecutePreprocessor.timeout=600 --output executed.ipynb "$name.ipynb" \
            > log.txt 2>&1); then
        echo "ok      $name ($((SECONDS - start)) s, alone in $folder)"
    else
        failed=1
        echo "FAILED  $name ($((SECONDS - start)) s): $(grep -m1 -E 'Error|Exception' "$folder/log.txt")"
    fi
done
exit $failed
