#!/bin/bash
# Google resumable uploads (X-Goog-Upload-Protocol: resumable) through the proxy, against nginx
# (lib.sh: /upload-start names a session, each piece lands in pieces/<id>.<X-Goog-Upload-Offset>;
# nginx speaks enough of the protocol for this, no other server is needed).
# Shows: a JPEG sent in 3 pieces is encrypted as one JPEG (the pieces put together on the server
# are exactly `imgsec jpeg encrypt -k STATE/key`, same size, decode, decrypt to the original; a GET
# through the proxy returns the original); the pieces the server got are contiguous; offsets the
# client sees are its own; an out-of-order piece gets 409 and changes nothing; after a proxy
# restart a piece or query of the old session gets 410 and nothing more reaches the server; the
# session cap gives 503; a session past its TTL gets 410. Usage: test_resumable.sh IMGSEC PROXYTOOL
. "$(dirname "$0")/lib.sh"
need nginx curl openssl heif-enc
make_pki
start_nginx
start_proxy --upload-sessions 5
U="https://photos.test:$SPORT"

"$TOOL" mkjpeg 2400 1800 92 11 "$T/photo.jpg"
size=$(stat -c %s "$T/photo.jpg")
"$IMGSEC" jpeg encrypt -k "$STATE/key" -o "$T/expect.jpg" "$T/photo.jpg"
"$TOOL" split "$T/photo.jpg" 3 "$T/piece"

hdr() { tr -d '\r' < "$1" | grep -i "^$2:" | head -1 | sed 's/^[^:]*: *//'; }
# start: prints the upload URL
start_session() {
    pcurl -X POST -H "X-Goog-Upload-Protocol: resumable" -H "X-Goog-Upload-Command: start" \
        -H "X-Goog-Upload-Header-Content-Length: $size" -H "X-Goog-Upload-Header-Content-Type: image/jpeg" \
        -D "$T/start.h" -o /dev/null "$U/upload-start" && hdr "$T/start.h" X-Goog-Upload-URL
}
# piece N OFFSET COMMAND URL: PUT piece N (nginx's DAV wants PUT; Google's clients use POST, the
# proxy does not care); headers in $T/p.h, status printed
piece() {
    pcurl -T "$T/piece.$1" -H "X-Goog-Upload-Command: $3" -H "X-Goog-Upload-Offset: $2" \
        -D "$T/p.h" -o /dev/null -w "%{http_code}" "$4"
}
# assemble ID OUT: the server's pieces in offset order; fails unless they are contiguous
assemble() {
    : > "$2"
    for f in $(ls "$T/pieces/$1".* 2>/dev/null | sort -t. -k2 -n); do
        off=${f##*.}
        [ "$off" = "$(stat -c %s "$2")" ] || { echo "piece at $off, have $(stat -c %s "$2")"; return 1; }
        cat "$f" >> "$2"
    done
}

url=$(start_session)
id=${url##*upload_id=}; id=${id%%&*}
check "start answered with an upload URL ($url)" '[ -n "$id" ]'
s0=$(stat -c %s "$T/piece.0"); s1=$(stat -c %s "$T/piece.1")
c0=$(piece 0 0 upload "$url")
check "piece 1 accepted ($c0)" '[ "$c0" = 200 ] || [ "$c0" = 201 ] || [ "$c0" = 204 ]'
check "piece 1: client's offset reported ($(hdr "$T/p.h" X-Goog-Upload-Size-Received))" '[ "$(hdr "$T/p.h" X-Goog-Upload-Size-Received)" = "$s0" ]'
# a retried or out-of-order piece: refused with the next expected offset, nothing sent
before=$(ls "$T/pieces" | wc -l)
cx=$(piece 0 0 upload "$url")
check "piece at a stale offset: 409 ($cx)" '[ "$cx" = 409 ]'
check "409 names the expected offset" '[ "$(hdr "$T/p.h" X-Goog-Upload-Size-Received)" = "$s0" ]'
check "409 sent nothing upstream" '[ "$(ls "$T/pieces" | wc -l)" = "$before" ]'
# the 409 closed that connection; the session goes on
c1=$(piece 1 "$s0" upload "$url")
check "piece 2 accepted ($c1)" '[ "$c1" = 200 ] || [ "$c1" = 201 ] || [ "$c1" = 204 ]'
# query: the server (told by the test) holds what the proxy sent; the client hears its own offset
held=$(cat "$T/pieces/$id".* 2>/dev/null | wc -c)
qc=$(pcurl -X POST -H "X-Goog-Upload-Command: query" -D "$T/q.h" -o /dev/null -w "%{http_code}" "$url&have=$held")
check "query answered with the client's offset ($qc, server holds $held)" '[ "$qc" = 200 ] && [ "$(hdr "$T/q.h" X-Goog-Upload-Size-Received)" = $((s0 + s1)) ]'
c2=$(piece 2 $((s0 + s1)) "upload, finalize" "$url")
check "piece 3 (upload, finalize) accepted ($c2)" '[ "$c2" = 201 ] || [ "$c2" = 204 ]'
check "finalize answered final" '[ "$(hdr "$T/p.h" X-Goog-Upload-Status)" = final ]'
check "server's pieces are contiguous" 'assemble "$id" "$T/stored.jpg"'
check "the proxy re-framed the pieces (server offsets differ from the client's)" '[ "$(ls "$T/pieces/$id".* | wc -l)" -ge 2 ] && [ ! -f "$T/pieces/$id.$s0" ] || [ "$(stat -c %s "$T/pieces/$id.0")" != "$s0" ]'
check "stored upload has the original's size" '[ "$(stat -c %s "$T/stored.jpg")" = "$size" ]'
check "stored upload is the JPEG encrypted as one (= imgsec jpeg encrypt)" 'cmp -s "$T/stored.jpg" "$T/expect.jpg"'
check "stored upload differs from the original" '! cmp -s "$T/stored.jpg" "$T/photo.jpg"'
check "stored upload decodes" '"$TOOL" decodes "$T/stored.jpg"'
check "stored upload decrypts with STATE/key to the original" '"$IMGSEC" jpeg decrypt -k "$STATE/key" -o "$T/dec.jpg" "$T/stored.jpg" && cmp -s "$T/dec.jpg" "$T/photo.jpg"'
cp "$T/stored.jpg" "$T/www/r.jpg"
check "GET through the proxy returns the original" 'pcurl "$U/r.jpg" -o "$T/got.jpg" && cmp -s "$T/got.jpg" "$T/photo.jpg"'
check "log shows held/piece/final and jpeg_enc=1" 'grep -q "resumable=final.*" "$T/proxy.log" && grep "resumable=final" "$T/proxy.log" | grep -q "jpeg_enc=1"'
check "session forgotten after finalize: query gets 410" '[ "$(pcurl -X POST -H "X-Goog-Upload-Command: query" -o /dev/null -w "%{http_code}" "$url")" = 410 ]'
# a HEIC (libheif's heif-enc, as an iPhone saves photos) sent resumable in one piece: not a JPEG,
# so it goes up as it is, and the final piece's log line says so
"$TOOL" mkjpeg 640 480 85 5 "$T/h.jpg"
heif-enc -q 60 -o "$T/piece.h" "$T/h.jpg" >/dev/null
url9=$(start_session)
id9=${url9##*upload_id=}; id9=${id9%%&*}
c9=$(piece h 0 "upload, finalize" "$url9")
check "a HEIC sent resumable: accepted ($c9), stored as it is" '{ [ "$c9" = 201 ] || [ "$c9" = 204 ]; } && assemble "$id9" "$T/stored9" && cmp -s "$T/stored9" "$T/piece.h"'
check "a HEIC sent resumable: the log says it went up unencrypted" 'grep "resumable=final" "$T/proxy.log" | grep -q "jpeg_enc=0.*warning=\"not encrypted: a HEIC (the proxy encrypts JPEG only)\""'

# the whole file in one "upload, finalize" request (what apps do for small photos)
url=$(start_session); id=${url##*upload_id=}; id=${id%%&*}
cp "$T/photo.jpg" "$T/piece.9"
c=$(piece 9 0 "upload, finalize" "$url")
check "one-piece resumable upload ($c)" 'assemble "$id" "$T/one.jpg" && cmp -s "$T/one.jpg" "$T/expect.jpg"'

# a non-JPEG file in pieces passes unchanged
head -c 300000 /dev/urandom > "$T/rand.bin"
"$TOOL" split "$T/rand.bin" 3 "$T/piece"
url=$(start_session); id=${url##*upload_id=}; id=${id%%&*}
r0=$(stat -c %s "$T/piece.0"); r1=$(stat -c %s "$T/piece.1")
piece 0 0 upload "$url" >/dev/null; piece 1 "$r0" upload "$url" >/dev/null
piece 2 $((r0 + r1)) "upload, finalize" "$url" >/dev/null
check "non-JPEG resumable upload passes byte for byte" 'assemble "$id" "$T/rand.out" && cmp -s "$T/rand.out" "$T/rand.bin"'

# a server that holds other bytes than the proxy sent (query): the session cannot go on
url=$(start_session); id=${url##*upload_id=}; id=${id%%&*}
piece 0 0 upload "$url" >/dev/null
piece 1 "$s0" upload "$url" >/dev/null
n_before=$(ls "$T/pieces/$id".* 2>/dev/null | wc -l)
check "query: server holding other bytes than the proxy sent: 410" '[ "$(pcurl -X POST -H "X-Goog-Upload-Command: query" -o /dev/null -w "%{http_code}" "$url&have=1")" = 410 ]'
check "... then the next piece gets 410" '[ "$(piece 2 $((s0 + s1)) "upload, finalize" "$url")" = 410 ]'
check "... and nothing more reached the server" '[ "$(ls "$T/pieces/$id".* 2>/dev/null | wc -l)" = "$n_before" ]'

# proxy restart in the middle of an upload: the cipher state is gone, so the session cannot be
# resumed through the proxy; it answers 410 and sends nothing, the client starts again
"$TOOL" split "$T/photo.jpg" 3 "$T/piece"
url=$(start_session); id=${url##*upload_id=}; id=${id%%&*}
piece 0 0 upload "$url" >/dev/null
piece 1 "$s0" upload "$url" >/dev/null
n_before=$(ls "$T/pieces/$id".* 2>/dev/null | wc -l)
stop_proxy
start_proxy --upload-sessions 3 --upload-session-ttl 2 --on-other-media refuse
check "after restart: query of the old session gets 410" '[ "$(pcurl -X POST -H "X-Goog-Upload-Command: query" -D "$T/q.h" -o /dev/null -w "%{http_code}" "$url")" = 410 ]'
c=$(piece 2 $((s0 + s1)) "upload, finalize" "$url")
check "after restart: next piece gets 410 ($c)" '[ "$c" = 410 ]'
check "after restart: nothing more reached the server" '[ "$(ls "$T/pieces/$id".* 2>/dev/null | wc -l)" = "$n_before" ]'
check "what the server got before the restart holds no plaintext" '! assemble "$id" "$T/part.jpg" >/dev/null || ! "$TOOL" contains "$T/photo.jpg" "$T/part.jpg" || [ ! -s "$T/part.jpg" ]'

# on-other-media refuse: a HEIC sent resumable is stopped with 422 naming it, nothing stored
url9=$(start_session); id9=${url9##*upload_id=}; id9=${id9%%&*}
c9=$(pcurl -T "$T/piece.h" -H "X-Goog-Upload-Command: upload, finalize" -H "X-Goog-Upload-Offset: 0" \
    -o "$T/p9.out" -w "%{http_code}" "$url9")
check "on-other-media refuse: a HEIC sent resumable gets 422 ($c9: $(head -c 100 "$T/p9.out"))" '[ "$c9" = 422 ] && grep -q "a HEIC, which the proxy cannot encrypt .*(on-other-media refuse)" "$T/p9.out"'
check "... nothing of it stored whole" '! cmp -s <(cat "$T/pieces/$id9".* 2>/dev/null) "$T/piece.h"'

# TTL: a session idle longer than upload-session-ttl (2 s here) is forgotten: 410, nothing sent
url=$(start_session); id=${url##*upload_id=}; id=${id%%&*}
piece 0 0 upload "$url" >/dev/null
n_before=$(ls "$T/pieces/$id".* 2>/dev/null | wc -l)
sleep 3
c=$(piece 1 "$s0" upload "$url")
check "piece after the session's TTL: 410 ($c)" '[ "$c" = 410 ]'
check "... nothing sent" '[ "$(ls "$T/pieces/$id".* 2>/dev/null | wc -l)" = "$n_before" ]'

# cap: --upload-sessions 3 live sessions, the 4th start gets 503
for i in 1 2 3; do start_session > /dev/null; done
code=$(pcurl -X POST -H "X-Goog-Upload-Protocol: resumable" -H "X-Goog-Upload-Command: start" -o /dev/null -w "%{http_code}" "$U/upload-start")
check "more live sessions than upload-sessions: 503 ($code)" '[ "$code" = 503 ]'

stop_proxy
if [ "$fail" -ne 0 ]; then echo "--- proxy log"; tail -30 "$T/proxy.log"; fi
finish
