#!/bin/sh
# The imgsec front binary must not load libcrypto (or the heavy commands' libraries): `imgsec
# ccsds` would pay ~0.5 ms of loading per run (apps/imgsec/main.c). keygen and jpeg must still
# work through imgsec-jpeg.so, and a missing module must give a clear error, not a crash.
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
echo "ok: front loads no libcrypto; keygen/jpeg via imgsec-jpeg.so"
