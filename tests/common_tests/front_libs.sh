#!/bin/sh
# The imgsec front binary must not load libcrypto (or the heavy commands' libraries): `imgsec
# ccsds` would pay ~0.5 ms of loading per run (apps/imgsec/main.c). keygen and jpeg must still
# work through imgsec-jpeg.so, vcs through imgsec-vcs.so without imgsec-ext and its service
# libraries, and a missing module must give a clear error, not a crash.
set -eu
imgsec=${1:?usage: front_libs.sh IMGSEC}
libs=$(ldd "$imgsec")
for bad in libcrypto libssl libevent libsqlite3 libtiff libtss2; do
    if printf '%s\n' "$libs" | grep -q "$bad"; then
        echo "FAIL: $imgsec loads $bad at start-up:" >&2
        printf '%s\n' "$libs" >&2
        exit 1
    fi
done
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
"$imgsec" keygen -o "$w/key"
[ "$(stat -c %a "$w/key")" = 600 ] || { echo "FAIL: key file mode" >&2; exit 1; }
# A copy of the front without imgsec-jpeg.so beside it: keygen fails cleanly (exit 1, a message
# naming the module); ccsds, which the front holds, still runs.
mkdir "$w/alone"
cp "$imgsec" "$w/alone/imgsec"
set +e
"$w/alone/imgsec" keygen -o "$w/key2" 2>"$w/err"
rc=$?
set -e
[ "$rc" = 1 ] || { echo "FAIL: keygen without the module exited $rc" >&2; exit 1; }
grep -q "imgsec-jpeg.so" "$w/err" || { echo "FAIL: no clear error:" >&2; cat "$w/err" >&2; exit 1; }
[ ! -e "$w/key2" ] || { echo "FAIL: key written without the module" >&2; exit 1; }
"$w/alone/imgsec" ccsds --help >/dev/null || { echo "FAIL: ccsds does not run in the front alone" >&2; exit 1; }
# vcs: its module loads none of the proxy's or the verifier service's libraries, and runs with
# only the front beside it (no imgsec-ext).
dir=$(dirname "$imgsec")
vlibs=$(ldd "$dir/imgsec-vcs.so")
for bad in libssl libevent libsqlite3 libtss2; do
    if printf '%s\n' "$vlibs" | grep -q "$bad"; then
        echo "FAIL: imgsec-vcs.so loads $bad" >&2
        exit 1
    fi
done
cp "$dir/imgsec-vcs.so" "$w/alone/"
printf 'P5\n32 32\n255\n' >"$w/g.pgm"
head -c 1024 /dev/urandom >>"$w/g.pgm"
pnmtopng "$w/g.pgm" >"$w/g.png" 2>/dev/null
"$w/alone/imgsec" vcs split "$w/g.png" -o "$w/sheets" >/dev/null
"$w/alone/imgsec" vcs stack "$w/sheets/a.tiff" "$w/sheets/b.tiff" -o "$w/r.png"
[ -s "$w/r.png" ] || { echo "FAIL: vcs without imgsec-ext" >&2; exit 1; }
echo "ok: front loads no libcrypto; keygen/jpeg via imgsec-jpeg.so; vcs via imgsec-vcs.so"
