#!/bin/sh
# The imgsec command as a user meets it: keygen, encrypt/decrypt/inspect with files, stdin/stdout
# and -O DIR; bad input gives one line naming file, offset and problem, an exit code below 128,
# no output file and an untouched input. Usage: test_cli.sh IMGSEC VECTORDIR
set -u
IMGSEC=$1
VEC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }

cp "$VEC/baseline.jpg" "$VEC/progressive.jpg" "$VEC/thumb-mpf.jpg" "$T/"
sum0=$(cat "$T"/*.jpg | cksum)

# keygen: mode 0600, never overwrites
check "keygen" '"$IMGSEC" keygen -o "$T/key"'
check "key mode 0600" '[ "$(stat -c %a "$T/key")" = 600 ]'
before=$(cat "$T/key")
"$IMGSEC" keygen -o "$T/key" 2>"$T/err"; rc=$?
check "keygen refuses to overwrite" '[ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$(cat "$T/key")" = "$before" ] && grep -q exists "$T/err"'
printf 'pass phrase\n' > "$T/pw"
check "passphrase keygen" '"$IMGSEC" keygen --passphrase --passphrase-file "$T/pw" -o "$T/pkey"'
check "passphrase key has no key material" '! grep -q "^key " "$T/pkey" && grep -q "^salt " "$T/pkey"'

# encrypt / decrypt round trip, same size, file and stdio
check "encrypt" '"$IMGSEC" jpeg encrypt -k "$T/key" -o "$T/e.jpg" "$T/baseline.jpg"'
check "same size" '[ "$(stat -c %s "$T/e.jpg")" = "$(stat -c %s "$T/baseline.jpg")" ]'
check "changed" '! cmp -s "$T/e.jpg" "$T/baseline.jpg"'
check "decrypt" '"$IMGSEC" jpeg decrypt -k "$T/key" -o "$T/d.jpg" "$T/e.jpg" && cmp -s "$T/d.jpg" "$T/baseline.jpg"'
# a key file others can read is used, with a warning naming its mode (as ssh and gpg warn);
# a 0600 one gets none
cp "$T/key" "$T/okey" && chmod 644 "$T/okey"
check "key readable by others: decrypt works, with a warning" '"$IMGSEC" jpeg decrypt -k "$T/okey" -o "$T/d2.jpg" "$T/e.jpg" 2>"$T/kerr" && cmp -s "$T/d2.jpg" "$T/baseline.jpg" && grep -q "warning: .*/okey is readable by others (mode 644); chmod 600 it" "$T/kerr"'
check "a 0600 key: no warning" '"$IMGSEC" jpeg decrypt -k "$T/key" -o "$T/d3.jpg" "$T/e.jpg" 2>"$T/kerr2" && ! grep -q "readable by others" "$T/kerr2"'
check "stdin/stdout" '"$IMGSEC" jpeg encrypt -k "$T/key" -o - - < "$T/baseline.jpg" | cmp -s - "$T/e.jpg"'
# a file and a pipe give the same output, with one thread or two (and then a writer thread);
# stdin that is a file partly read already is read from where it stands
for th in 1 2; do
    check "pipe input, --threads $th" 'cat "$T/progressive.jpg" | "$IMGSEC" jpeg encrypt --threads $th -k "$T/key" -o "$T/pp$th.jpg" - && "$IMGSEC" jpeg encrypt --threads $th -k "$T/key" -o "$T/pf$th.jpg" "$T/progressive.jpg" && cmp -s "$T/pp$th.jpg" "$T/pf$th.jpg"'
done
check "one thread or two: the same output" 'cmp -s "$T/pf1.jpg" "$T/pf2.jpg"'
{ printf 'skipme'; cat "$T/baseline.jpg"; } > "$T/offset.bin"
check "stdin file already partly read" '{ dd bs=6 count=1 of=/dev/null 2>/dev/null; "$IMGSEC" jpeg encrypt -k "$T/key" -o "$T/off.jpg" -; } < "$T/offset.bin" && cmp -s "$T/off.jpg" "$T/e.jpg"'
check "passphrase key" 'IMGSEC_PASSPHRASE="pass phrase" "$IMGSEC" jpeg encrypt -k "$T/pkey" -o "$T/pe.jpg" "$T/baseline.jpg" && ! cmp -s "$T/pe.jpg" "$T/e.jpg"'
IMGSEC_PASSPHRASE="wrong" "$IMGSEC" jpeg encrypt -k "$T/pkey" -o "$T/pw.jpg" "$T/baseline.jpg" 2>"$T/err"; rc=$?
check "wrong passphrase" '[ $rc -eq 4 ] && grep -q "wrong passphrase" "$T/err" && [ ! -e "$T/pw.jpg" ]'

# several inputs with -O DIR
mkdir "$T/out"
check "-O DIR" '"$IMGSEC" jpeg encrypt -k "$T/key" -O "$T/out" "$T/baseline.jpg" "$T/progressive.jpg" "$T/thumb-mpf.jpg" && [ -f "$T/out/progressive.jpg" ] && [ -f "$T/out/thumb-mpf.jpg" ] && cmp -s "$T/out/baseline.jpg" "$T/e.jpg"'
check "-O DIR decrypt" 'mkdir "$T/back" && "$IMGSEC" jpeg decrypt -k "$T/key" -O "$T/back" "$T"/out/*.jpg && cmp -s "$T/back/thumb-mpf.jpg" "$T/thumb-mpf.jpg"'

# inspect
check "inspect" '"$IMGSEC" jpeg inspect "$T/thumb-mpf.jpg" > "$T/i.txt" && grep -q "baseline JPEG, 128x96" "$T/i.txt" && grep -q "embedded exif-thumbnail" "$T/i.txt" && grep -q "embedded mpf" "$T/i.txt"'
check "inspect --json" '"$IMGSEC" jpeg inspect --json "$T/progressive.jpg" > "$T/i.json" && grep -q "\"process\":\"progressive\"" "$T/i.json" && grep -q "\"scans\":\[{" "$T/i.json"'

# bad input: one line with file and offset, exit below 128, no output, input untouched
head -c 700 "$T/baseline.jpg" > "$T/trunc.jpg"
printf 'GIF89a not a jpeg' > "$T/gif.jpg"
for f in trunc.jpg gif.jpg; do
    "$IMGSEC" jpeg encrypt -k "$T/key" -o "$T/x-$f" "$T/$f" 2>"$T/err"; rc=$?
    check "$f exit code" '[ $rc -ne 0 ] && [ $rc -lt 128 ]'
    check "$f one line naming file and offset" '[ "$(wc -l < "$T/err")" = 1 ] && grep -q "$T/$f: offset [0-9]*: " "$T/err"'
    check "$f leaves no output" '[ -z "$(ls "$T" | grep "^x-")" ]'
done
"$IMGSEC" jpeg encrypt -k "$T/key" -O "$T/out" "$T/trunc.jpg" "$T/baseline.jpg" 2>"$T/err"; rc=$?
check "one bad file among several: others still done, non-zero exit" '[ $rc -eq 1 ] && [ ! -e "$T/out/trunc.jpg" ] && [ -f "$T/out/baseline.jpg" ]'
check "output onto input refused" '! "$IMGSEC" jpeg encrypt -k "$T/key" -o "$T/baseline.jpg" "$T/baseline.jpg" 2>/dev/null'
check "no temporary files left" '[ -z "$(find "$T" -name "*.imgsec-*")" ]'
check "inputs untouched" '[ "$(cat "$T/baseline.jpg" "$T/progressive.jpg" "$T/thumb-mpf.jpg" | cksum)" = "$sum0" ]'
"$IMGSEC" jpeg encrypt -o "$T/y.jpg" "$T/baseline.jpg" 2>/dev/null; rc=$?
check "missing key is a usage error" '[ $rc -eq 2 ]'
"$IMGSEC" jpeg encrypt -k "$T/nokey" -o "$T/y.jpg" "$T/baseline.jpg" 2>/dev/null; rc=$?
check "missing key file" '[ $rc -eq 3 ] || [ $rc -eq 4 ]'
check "help" '"$IMGSEC" --help | grep -q jpeg && "$IMGSEC" jpeg --help | grep -q inspect'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
