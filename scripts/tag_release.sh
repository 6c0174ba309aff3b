#!/usr/bin/env bash
# Publishing (the book workflow): the chapters' setup cells install the package at the git tag
# v<__version__> (scripts/sync_setup_cells.py). Create that tag at this commit if it does not exist;
# if it exists, the package must not have changed since, or Colab readers would run other code
# than the book shows: then fail and ask for a version bump.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' ddpm_from_scratch/__init__.py)
tag="v$version"
python3 scripts/sync_setup_cells.py --check
if git rev-parse -q --verify "refs/tags/$tag" >/dev/null; then
  if ! git diff --quiet "$tag" HEAD -- ddpm_from_scratch pyproject.toml; then
    echo "error: the package changed since $tag, the version the notebooks install. Bump __version__ in" \
         "ddpm_from_scratch/__init__.py and pyproject.toml, run scripts/sync_setup_cells.py, and push again." >&2
    exit 1
  fi
  echo "$tag exists and holds this package"
else
  git tag "$tag"
  git push origin "$tag"
  echo "tagged $tag"
fi
