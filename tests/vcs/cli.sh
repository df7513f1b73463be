#!/bin/sh
# imgsec vcs on the command line: split/stack/export/watermark/info, determinism with --seed and
# --key, refusal to overwrite, and no half-written outputs when something fails.
set -u
bin=$1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail=0
ok() { if "$@" >/dev/null 2>&1; then :; else echo "FAILED: $*"; fail=1; fi; }
code() { want=$1; shift; "$@" >/dev/null 2>&1; got=$?; [ "$got" = "$want" ] || { echo "FAILED (exit $got, want $want): $*"; fail=1; }; }
nofile() { for f in "$@"; do [ -e "$f" ] && { echo "FAILED: $f should not exist"; fail=1; }; done; return 0; }

# Inputs: a gray and a colour PNG made with netpbm (odd sizes on purpose).
pgmramp -lr 77 51 | pnmtopng > "$t/g.png"
ppmmake rgb:20/80/c0 61 45 | pnmtopng > "$t/c.png"
"$bin" keygen -o "$t/key" >/dev/null 2>&1

ok "$bin" vcs split --seed 1 --key "$t/key" "$t/g.png" -o "$t/o1"
for f in a.tiff b.tiff vcs-secret; do [ -s "$t/o1/$f" ] || { echo "FAILED: o1/$f missing"; fail=1; }; done
[ "$(stat -c %a "$t/o1/vcs-secret")" = 600 ] || { echo "FAILED: vcs-secret mode"; fail=1; }
ok "$bin" vcs stack "$t/o1/a.tiff" "$t/o1/b.tiff" -o "$t/r1.png"
ok "$bin" vcs stack "$t/o1/b.tiff" "$t/o1/a.tiff" -o "$t/r1b.png" # either order
ok cmp -s "$t/r1.png" "$t/r1b.png"
[ "$(pngtopnm "$t/r1.png" | head -c 20 | sed -n 2p)" = "77 51" ] || { echo "FAILED: stacked size"; fail=1; }
ok "$bin" vcs watermark "$t/o1/a.tiff" "$t/o1/b.tiff" --secret "$t/o1/vcs-secret"
"$bin" vcs watermark "$t/o1/a.tiff" "$t/o1/b.tiff" --secret "$t/o1/vcs-secret" | grep -q '^NC 1.0000$' || { echo "FAILED: NC"; fail=1; }
ok "$bin" vcs info "$t/o1/a.tiff"

# Same seed and key: identical files. Refuses to overwrite; --force replaces.
ok "$bin" vcs split --seed 1 --key "$t/key" "$t/g.png" -o "$t/o2"
ok cmp -s "$t/o1/a.tiff" "$t/o2/a.tiff"
ok cmp -s "$t/o1/b.tiff" "$t/o2/b.tiff"
sum=$(cat "$t/o2/a.tiff" "$t/o2/b.tiff" | md5sum)
code 3 "$bin" vcs split --seed 2 --key "$t/key" "$t/g.png" -o "$t/o2"
[ "$sum" = "$(cat "$t/o2/a.tiff" "$t/o2/b.tiff" | md5sum)" ] || { echo "FAILED: refused split changed files"; fail=1; }
ok "$bin" vcs split --force --seed 2 --key "$t/key" "$t/g.png" -o "$t/o2"
[ "$sum" != "$(cat "$t/o2/a.tiff" "$t/o2/b.tiff" | md5sum)" ] || { echo "FAILED: --force"; fail=1; }
# A --force split that cannot write one of its three files changes none of them.
sum=$(cat "$t/o2/a.tiff" "$t/o2/b.tiff" | md5sum)
rm -f "$t/o2/vcs-secret" && mkdir "$t/o2/vcs-secret"
code 3 "$bin" vcs split --force --seed 3 --key "$t/key" "$t/g.png" -o "$t/o2"
[ "$sum" = "$(cat "$t/o2/a.tiff" "$t/o2/b.tiff" | md5sum)" ] || { echo "FAILED: failed --force split changed files"; fail=1; }
[ -z "$(find "$t/o2" -name '*.imgsec-*')" ] || { echo "FAILED: temporary files left"; fail=1; }
rmdir "$t/o2/vcs-secret"

# Other modes and layouts.
ok "$bin" vcs split --mode secure --seed 3 "$t/c.png" -o "$t/o3"
ok "$bin" vcs stack "$t/o3/a.tiff" "$t/o3/b.tiff" -o "$t/r3.png"
ok "$bin" vcs watermark "$t/o3/a.tiff" "$t/o3/b.tiff" --secret "$t/o3/vcs-secret"
ok "$bin" vcs split --color planes --fill 1b3w --halftone jjn --serpentine --gamma srgb "$t/c.png" -o "$t/o4"
ok "$bin" vcs stack --bits 3 "$t/o4/a.tiff" "$t/o4/b.tiff" -o "$t/r4.png"
ok "$bin" vcs split --halftone stucki --color gray "$t/c.png" -o "$t/o5"
"$bin" vcs info "$t/o4/b.tiff" | grep -q '^planes 24$' || { echo "FAILED: 24 planes"; fail=1; }

# --tiff: the same sheets (same seed) in zstd, deflate and uncompressed files stack identically;
# the sheet digests agree; uncompressed is the largest.
for c in zstd deflate none; do
    ok "$bin" vcs split --tiff $c --seed 4 --key "$t/key" --color planes --mode secure "$t/c.png" -o "$t/t-$c"
    ok "$bin" vcs stack "$t/t-$c/a.tiff" "$t/t-$c/b.tiff" -o "$t/t-$c.png"
done
ok cmp -s "$t/t-zstd.png" "$t/t-deflate.png"
ok cmp -s "$t/t-zstd.png" "$t/t-none.png"
[ "$("$bin" vcs info "$t/t-zstd/a.tiff" | grep sha256)" = "$("$bin" vcs info "$t/t-none/a.tiff" | grep sha256)" ] ||
    { echo "FAILED: digest depends on compression"; fail=1; }
[ "$(wc -c < "$t/t-none/a.tiff")" -gt "$(wc -c < "$t/t-zstd/a.tiff")" ] || { echo "FAILED: zstd not smaller"; fail=1; }
code 2 "$bin" vcs split --tiff lzma "$t/c.png" -o "$t/t-x"
nofile "$t/t-x"

# Sheets of two different splits (o1's A, o2's B: same key, other seed) are caught.
code 1 "$bin" vcs watermark "$t/o1/a.tiff" "$t/o2/b.tiff" --secret "$t/o1/vcs-secret"
code 1 "$bin" vcs stack "$t/o1/a.tiff" "$t/o1/a.tiff" -o "$t/x.png"
nofile "$t/x.png"
code 1 "$bin" vcs stack "$t/o1/a.tiff" "$t/o3/b.tiff" -o "$t/x.png"
nofile "$t/x.png"

# Export for printing: 4 PNGs per plane.
ok "$bin" vcs export-png "$t/o3/a.tiff" -o "$t/png"
[ "$(ls "$t/png" | wc -l)" = 12 ] || { echo "FAILED: export count"; fail=1; }
code 3 "$bin" vcs export-png "$t/o3/a.tiff" -o "$t/png"

# Failures leave nothing behind.
echo "not a png" > "$t/bad.png"
code 1 "$bin" vcs split "$t/bad.png" -o "$t/o6"
nofile "$t/o6"
touch "$t/plainfile"
code 3 "$bin" vcs split "$t/g.png" -o "$t/plainfile/o7"
head -c 3000 "$t/o1/a.tiff" > "$t/trunc.tiff"
code 1 "$bin" vcs stack "$t/trunc.tiff" "$t/o1/b.tiff" -o "$t/x.png"
nofile "$t/x.png"
code 3 "$bin" vcs stack "$t/o1/a.tiff" "$t/o1/b.tiff" -o "$t/r1.png" # exists
code 3 "$bin" vcs stack "$t/o1/a.tiff" "$t/o1/b.tiff" -o "$t/nodir/x.png"
code 4 "$bin" vcs watermark "$t/o1/a.tiff" "$t/o1/b.tiff" --secret "$t/g.png"
code 4 "$bin" vcs split --key "$t/g.png" "$t/g.png" -o "$t/o8"
nofile "$t/o8"
code 2 "$bin" vcs split --mode fancy "$t/g.png" -o "$t/o9"
code 2 "$bin" vcs stack "$t/o1/a.tiff" -o "$t/x.png"
code 2 "$bin" vcs frobnicate
leftover=$(find "$t" -name '*.imgsec-*' | wc -l)
[ "$leftover" = 0 ] || { echo "FAILED: temporary files left: $leftover"; fail=1; }
exit $fail
