"""Rebuilds bts-hangul-subset.ttf: NanumGothic (NAVER, SIL OFL 1.1, Debian package
fonts-nanum) subset to what the pictures need, and renamed as the OFL's Reserved Font Name
clause requires of a modified version.

Needed: printable ASCII, a little typographic punctuation, the 2,350 Hangul syllables of
KS X 1001 (the common modern set, every syllable an EUC-KR text can hold) and every other
character of the knowledge base's default content (symptom-kb/content/default.json).

    python3 build.py NanumGothic.ttf ../../../symptom-kb/content/default.json
Needs fonttools (pip install fonttools==4.*). Run by build.sh.
"""
import json
import sys

from fontTools import subset
from fontTools.ttLib import TTFont

src, content = sys.argv[1], sys.argv[2]

chars = set(chr(c) for c in range(0x20, 0x7F))
chars |= set("·–—…→←↑↓±×°²³µ‘’“”•")
for hi in range(0xB0, 0xC9):
    for lo in range(0xA1, 0xFF):
        try:
            chars.add(bytes([hi, lo]).decode("euc-kr"))
        except UnicodeDecodeError:
            pass


def strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from strings(x)


with open(content, encoding="utf-8") as f:
    for s in strings(json.load(f)):
        chars |= set(ch for ch in s if ord(ch) >= 0x20)

font = TTFont(src)
cmap = font.getBestCmap()
wanted = sorted(c for c in chars if ord(c) in cmap)
missing = sorted(c for c in chars if ord(c) not in cmap and not c.isspace())
opts = subset.Options()
opts.layout_features = []  # pictures need shapes and advances, not OpenType layout
opts.hinting = False
opts.name_IDs = []
opts.notdef_outline = True
sub = subset.Subsetter(opts)
sub.populate(unicodes=[ord(c) for c in wanted])
sub.subset(font)

# OFL 1.1 §3: a Modified Version must not use the Reserved Font Names.
family = "BTS Hangul Subset"
name = font["name"]
for rec_id, value in [
    (0, "Copyright (c) 2010, NAVER Corporation. Subset and renamed for brain-tumour-seg (SIL OFL 1.1)."),
    (1, family),
    (2, "Regular"),
    (3, family + " Regular"),
    (4, family + " Regular"),
    (6, "BTSHangulSubset-Regular"),
    (13, "This Font Software is licensed under the SIL Open Font License, Version 1.1."),
    (14, "https://openfontlicense.org"),
]:
    name.setName(value, rec_id, 3, 1, 0x409)
font.save("bts-hangul-subset.ttf")
print(f"{len(wanted)} characters kept; not in the source font: {''.join(missing)!r}")
