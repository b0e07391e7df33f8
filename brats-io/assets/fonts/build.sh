#!/bin/sh
# Rebuilds bts-hangul-subset.ttf.gz from Debian's fonts-nanum package (NanumGothic.ttf,
# SIL OFL 1.1). Needs apt-get (Debian's package registry), python3 and fonttools.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
cd "$work"
apt-get download fonts-nanum
dpkg-deb -x fonts-nanum_*.deb x
python3 -m pip install --quiet 'fonttools==4.*'
cd "$here"
python3 build.py "$work/x/usr/share/fonts/truetype/nanum/NanumGothic.ttf" ../../../symptom-kb/content/default.json
gzip -9 -n -f bts-hangul-subset.ttf
rm -rf "$work"
ls -l bts-hangul-subset.ttf.gz
