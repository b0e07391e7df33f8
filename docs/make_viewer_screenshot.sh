#!/bin/sh
# Rebuilds docs/report_viewer.png: an unseen synthetic high-grade glioma (seed 77000002),
# segmented by the shipped default model, its report's slice viewer in headless Chromium
# (Debian's chromium package). Run from the repository root:
#   sh docs/make_viewer_screenshot.sh            (or BTS=/path/to/bts sh docs/…)
set -eu
BTS=${BTS:-"cargo run --release -q --"}
out=$(mktemp -d)
$BTS synth --out "$out/cases" --cases 1 --seed 77000002 --subtype high-grade
$BTS diagnose --intake examples/data/intake_ko.json --case "$out/cases/Synth_77000002" --out "$out/report"
ls -l "$out/report/report.html"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$out/profile" --hide-scrollbars --virtual-time-budget=30000 \
    --window-size=1150,700 --screenshot=docs/report_viewer.png \
    "file://$out/report/report.html#viewer-first" 2>/dev/null
rm -rf "$out"
