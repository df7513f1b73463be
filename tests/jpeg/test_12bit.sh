#!/bin/sh
# 12-bit JPEG (extended sequential, SOF1 P=12): no Debian tool writes one and libjpeg-turbo 2.1
# cannot decode one, so the real files come from DICOM test images (python3-pydicom's
# JPGExtended.dcm and JPEG-lossy.dcm, whose SOS has Ss=Se=0; extracted by
# scripts/make-jpeg-corpus into CORPUS/dicom/) and the real decoder is dcmtk's dcmdjpeg: the JPEG
# is enciphered in place inside the DICOM file (the size does not change), both files are
# decoded, and the pictures compared. Usage: test_12bit.sh IMGSEC [CORPUS]
set -u
export LC_ALL=C
IMGSEC=$1
DIR=${2:-${ISEC_CORPUS:-}}/dicom
if [ ! -f "$DIR/JPGExtended.dcm" ] || ! command -v dcmdjpeg >/dev/null; then
    echo "missing $DIR/JPGExtended.dcm or dcmdjpeg (run make corpus / scripts/install-deps)"
    [ -n "${CI:-}" ] && exit 1
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# a fixed key, so the result is the same every run
printf 'imgsec-key 1\nkind random\nkey %s\n' \
    000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f >"$T/k"
pass=0
fail=0
bad() { echo "FAIL: $1: $2"; fail=$((fail + 1)); }

inspect_dims() { # JPEG -> width*height
    "$IMGSEC" jpeg inspect --json "$1" | sed -n 's/.*"width":\([0-9]*\),"height":\([0-9]*\).*/\1 \2/p' |
        awk '{ print $1 * $2 }'
}

one() { # DCM
    dcm=$1
    name=$(basename "$dcm")
    # the JPEG inside: from its SOI to the file's last EOI (DICOM encapsulated pixel data)
    start=$(grep -obUaP '\xff\xd8\xff' "$dcm" | head -1 | cut -d: -f1)
    end=$(grep -obUaP '\xff\xd9' "$dcm" | tail -1 | cut -d: -f1)
    len=$((end + 2 - start))
    tail -c +$((start + 1)) "$dcm" | head -c $len >"$T/x.jpg"
    "$IMGSEC" jpeg inspect "$T/x.jpg" | grep -q "extended JPEG, .* 12-bit" || { bad "$name" "not a 12-bit JPEG"; return; }
    "$IMGSEC" jpeg encrypt -k "$T/k" -o "$T/e.jpg" "$T/x.jpg" || { bad "$name" encrypt; return; }
    "$IMGSEC" jpeg decrypt -k "$T/k" -o "$T/d.jpg" "$T/e.jpg" && cmp -s "$T/d.jpg" "$T/x.jpg" || { bad "$name" "round trip"; return; }
    [ "$(wc -c <"$T/e.jpg")" = "$len" ] || { bad "$name" "size changed"; return; }
    { head -c "$start" "$dcm"; cat "$T/e.jpg"; tail -c +$((end + 3)) "$dcm"; } >"$T/enc.dcm"
    cmp -s "$T/enc.dcm" "$dcm" && { bad "$name" "nothing enciphered"; return; }
    [ "$(wc -c <"$T/enc.dcm")" = "$(wc -c <"$dcm")" ] || { bad "$name" "DICOM size"; return; }
    dcmdjpeg "$dcm" "$T/p.dcm" && dcmdjpeg "$T/enc.dcm" "$T/c.dcm" || { bad "$name" "dcmtk cannot decode the ciphertext"; return; }
    # decoded samples, straight from the pixel data that ends each decoded file (no windowing):
    # rows x columns 16-bit little-endian words
    npix=$(inspect_dims "$T/x.jpg")
    tail -c $((npix * 2)) "$T/p.dcm" | od -An -v -tu2 -w2 >"$T/p.txt"
    tail -c $((npix * 2)) "$T/c.dcm" | od -An -v -tu2 -w2 >"$T/c.txt"
    # This picture is dark (12-bit samples of 0..264 of 4095), so the PSNR peak is the picture's
    # own range, not 4095 (against 4095, a ciphertext that decodes clamped to black scores high).
    psnr=$(paste -d' ' "$T/p.txt" "$T/c.txt" | awk '{ x = $1 % 4096; y = $2 % 4096; d = x - y; se += d * d; n++;
            if (n == 1 || x < lo) lo = x; if (n == 1 || x > hi) hi = x }
        END { if (se == 0) print 99; else printf "%.2f", 10 * log((hi - lo) ^ 2 / (se / n)) / log(10) }')
    echo "$name: 12-bit JPEG of $len bytes, PSNR(plain, cipher) = $psnr dB (peak = the picture's range)"
    awk -v p="$psnr" 'BEGIN { exit !(p < 20) }' || { bad "$name" "PSNR $psnr dB, want < 20"; return; }
    pass=$((pass + 1))
}

for f in "$DIR"/*.dcm; do one "$f"; done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -ge 2 ]
