#!/bin/sh
# imgsec ccsds on the command line: raw and PGM input, lossless and rate-limited round trips,
# info, truncated and corrupt streams, usage errors and their exit codes.
set -u
bin=$1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail=0
ok() { if "$@"; then :; else echo "FAILED: $*"; fail=1; fi; }
code() { want=$1; shift; "$@" >/dev/null 2>&1; got=$?; [ "$got" = "$want" ] || { echo "FAILED (exit $got, want $want): $*"; fail=1; }; }

# 8-bit raw 45x33, 16-bit big-endian raw 30x20 (signed), and a PGM
head -c 1485 /dev/urandom > "$t/a.raw"
head -c 1200 /dev/urandom > "$t/b.raw"
{ printf 'P5\n40 30\n255\n'; head -c 1200 /dev/urandom; } > "$t/c.pgm"

ok "$bin" ccsds encode --width 45 --height 33 --depth 8 "$t/a.raw" "$t/a.c122"
ok "$bin" ccsds decode --raw "$t/a.c122" "$t/a.out"
ok cmp -s "$t/a.raw" "$t/a.out"
ok "$bin" ccsds encode --lossless --segment 16 --width 30 --height 20 --depth 16 --signed --be "$t/b.raw" "$t/b.c122"
ok "$bin" ccsds decode --raw --be "$t/b.c122" "$t/b.out"
ok cmp -s "$t/b.raw" "$t/b.out"
ok "$bin" ccsds encode "$t/c.pgm" "$t/c.c122"
ok "$bin" ccsds decode "$t/c.c122" "$t/c.out.pgm"
ok cmp -s "$t/c.pgm" "$t/c.out.pgm"
ok "$bin" ccsds encode --transpose "$t/c.pgm" "$t/ct.c122"
ok "$bin" ccsds decode "$t/ct.c122" "$t/ct.pgm"
ok cmp -s "$t/c.pgm" "$t/ct.pgm"
if command -v pnmtopng >/dev/null 2>&1; then # PNG input, 8 and 16 bits
    pnmtopng "$t/c.pgm" > "$t/c.png" 2>/dev/null
    ok "$bin" ccsds encode "$t/c.png" "$t/cp.c122"
    ok cmp -s "$t/c.c122" "$t/cp.c122"
    { printf 'P5\n20 18\n65535\n'; head -c 720 /dev/urandom; } > "$t/d.pgm"
    pnmtopng "$t/d.pgm" > "$t/d.png" 2>/dev/null
    ok "$bin" ccsds encode "$t/d.png" "$t/d.c122"
    ok "$bin" ccsds decode "$t/d.c122" "$t/d.out.pgm"
    ok cmp -s "$t/d.pgm" "$t/d.out.pgm"
fi
# 12-bit little-endian raw (unsigned and signed), ASCII PGM with maxval 1000 (10 bits), signed
# 8-bit raw; a sample outside the depth is an error
LC_ALL=C awk 'BEGIN { srand(3); for (i = 0; i < 600; i++) { v = int(rand() * 4096); printf "%c%c", v % 256, int(v / 256) } }' > "$t/e.raw"
ok "$bin" ccsds encode --width 25 --height 24 --depth 12 "$t/e.raw" "$t/e.c122"
ok "$bin" ccsds decode --raw "$t/e.c122" "$t/e.out"
ok cmp -s "$t/e.raw" "$t/e.out"
LC_ALL=C awk 'BEGIN { srand(4); for (i = 0; i < 600; i++) { v = int(rand() * 4096) - 2048; if (v < 0) v += 65536; printf "%c%c", v % 256, int(v / 256) } }' > "$t/f.raw"
ok "$bin" ccsds encode --width 24 --height 25 --depth 12 --signed "$t/f.raw" "$t/f.c122"
ok "$bin" ccsds decode --raw "$t/f.c122" "$t/f.out"
ok cmp -s "$t/f.raw" "$t/f.out"
code 1 "$bin" ccsds encode --width 25 --height 24 --depth 11 "$t/e.raw" "$t/x.c122"
LC_ALL=C awk 'BEGIN { srand(5); printf "P2\n# comment\n19 17\n1000\n"; for (i = 0; i < 323; i++) printf "%d%s", int(rand() * 1001), (i % 19 == 18) ? "\n" : " " }' > "$t/g.pgm"
ok "$bin" ccsds encode "$t/g.pgm" "$t/g.c122"
ok "$bin" ccsds decode "$t/g.c122" "$t/g.out.pgm"
pgmtopgm < "$t/g.pgm" > "$t/g.bin.pgm" 2>/dev/null # netpbm: binary P5, maxval 1000
# the decoder writes maxval 1023 (10 bits); compare the 323 two-byte samples
[ "$(wc -c < "$t/g.bin.pgm")" -gt 646 ] && [ "$(tail -c 646 "$t/g.out.pgm" | od -An -v -tu1 | tr -s ' \n' ' ')" = "$(tail -c 646 "$t/g.bin.pgm" | od -An -v -tu1 | tr -s ' \n' ' ')" ] ||
    { echo "FAILED: ASCII PGM round trip"; fail=1; }
ok "$bin" ccsds encode --width 45 --height 33 --depth 8 --signed "$t/a.raw" "$t/as.c122"
ok "$bin" ccsds decode --raw "$t/as.c122" "$t/as.out"
ok cmp -s "$t/a.raw" "$t/as.out"
ok "$bin" ccsds encode --bpp 1 --segment 16 "$t/c.pgm" "$t/c1.c122"
size=$(wc -c < "$t/c1.c122")
[ "$size" -le $((1 * 16 * 8 * 2)) ] || { echo "FAILED: rate 1 gave $size bytes"; fail=1; }
ok "$bin" ccsds decode "$t/c1.c122" "$t/c1.pgm"
"$bin" ccsds info "$t/c.c122" > "$t/info.txt" || { echo "FAILED: info"; fail=1; }
grep -q 'segment 0: bytes 0\.\.' "$t/info.txt" || { echo "FAILED: info lacks segment 0"; fail=1; }
grep -q 'ImageWidth=40' "$t/info.txt" || { echo "FAILED: info lacks ImageWidth"; fail=1; }
grep -q 'layer 1 (bit plane' "$t/info.txt" || { echo "FAILED: info lacks layers"; fail=1; }

# truncated: best reconstruction with a warning (exit 0), or an error with --strict
head -c 100 "$t/c.c122" > "$t/cut.c122"
code 0 "$bin" ccsds decode "$t/cut.c122" "$t/cut.pgm"
[ -s "$t/cut.pgm" ] || { echo "FAILED: no reconstruction from a cut stream"; fail=1; }
code 1 "$bin" ccsds decode --strict "$t/cut.c122" "$t/cut2.pgm"
[ -e "$t/cut2.pgm" ] && { echo "FAILED: --strict left an output"; fail=1; }
# corrupt and empty
printf 'garbage' > "$t/bad.c122"
code 1 "$bin" ccsds decode "$t/bad.c122" "$t/bad.pgm"
: > "$t/empty.c122"
code 1 "$bin" ccsds decode "$t/empty.c122" "$t/e.pgm"
code 1 "$bin" ccsds info "$t/bad.c122"
# usage and I/O errors
code 2 "$bin" ccsds
code 2 "$bin" ccsds encode --segment 15 "$t/c.pgm" "$t/x.c122"
code 2 "$bin" ccsds encode --lossless --bpp 1 "$t/c.pgm" "$t/x.c122"
code 2 "$bin" ccsds encode --width 45 "$t/a.raw" "$t/x.c122"
code 1 "$bin" ccsds encode --width 45 --height 34 --depth 8 "$t/a.raw" "$t/x.c122"
code 1 "$bin" ccsds encode --width 16 --height 20 --depth 8 "$t/a.raw" "$t/x.c122"
code 3 "$bin" ccsds decode "$t/nonexistent.c122" "$t/x.pgm"
code 0 "$bin" ccsds --help
exit $fail
