#!/bin/bash
# HTTP/1.1 details through the proxy, against nginx: pipelined requests in one write, HTTP/1.0
# clients, Expect: 100-continue, HEAD followed by more requests on the connection, chunked
# trailers forwarded both ways, and one retry of a bodiless GET on a reused upstream connection
# that the server closed. Usage: test_protocol.sh IMGSEC PROXYTOOL
. "$(dirname "$0")/lib.sh"
need nginx curl openssl
make_pki
start_nginx
start_proxy --upstream-self allow # proxytool listen1 below is reached by its address, 127.0.0.1
U="https://photos.test:$SPORT"
P="http://plain.test:$HPORT"
"$TOOL" mkjpeg 1200 900 90 5 "$T/photo.jpg"
"$TOOL" mkjpeg 640 480 85 6 "$T/small.jpg"
size=$(stat -c %s "$T/photo.jpg")
ssize=$(stat -c %s "$T/small.jpg")
"$IMGSEC" jpeg encrypt -k "$STATE/key" -o "$T/expect.jpg" "$T/photo.jpg"

check "setup: uploads" 'pcurl -T "$T/photo.jpg" "$U/a.jpg" -o /dev/null && pcurl -T "$T/small.jpg" "$U/b.jpg" -o /dev/null && cmp -s "$T/www/a.jpg" "$T/expect.jpg"'

# pipelining: three requests (GET, HEAD, GET) in one write on plain HTTP; the answers come in
# order, the HEAD's has no body, both GETs are decrypted
printf 'GET %s/a.jpg HTTP/1.1\r\nHost: plain.test\r\n\r\nHEAD %s/b.jpg HTTP/1.1\r\nHost: plain.test\r\n\r\nGET %s/b.jpg HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n' "$P" "$P" "$P" > "$T/pipe.req"
"$TOOL" raw "$PPORT" "$T/pipe.req" "$T/pipe.out"
check "pipelined: three answers" '[ "$(grep -ao "HTTP/1.1 200 OK" "$T/pipe.out" | wc -l)" = 3 ]'
check "pipelined: first body is the original of a.jpg" '"$TOOL" contains "$T/pipe.out" "$T/photo.jpg"'
check "pipelined: third body is the original of b.jpg" '"$TOOL" contains "$T/pipe.out" "$T/small.jpg"'
check "pipelined: nothing but the three answers" '[ "$(stat -c %s "$T/pipe.out")" -lt $((size + ssize + 2000)) ]'

# HTTP/1.0 clients, plain and inside an intercepted tunnel
check "HTTP/1.0 plain GET decrypted" 'curl -sS -0 --max-time 20 --proxy "http://127.0.0.1:$PPORT" "$P/a.jpg" -o "$T/h10.jpg" && cmp -s "$T/h10.jpg" "$T/photo.jpg"'
check "HTTP/1.0 proxy CONNECT and HTTP/1.0 GET inside" 'pcurl -0 --proxy1.0 "127.0.0.1:$PPORT" "$U/a.jpg" -o "$T/h10t.jpg" && cmp -s "$T/h10t.jpg" "$T/photo.jpg"'
# the server closes right after an HTTP/1.0 response, often while the cipher thread still holds
# some of it (the end must wait for the rest: it once cut the download short, then crashed)
n10=0
for i in 1 2 3 4 5 6 7 8 9 10; do
    pcurl -0 --proxy1.0 "127.0.0.1:$PPORT" "$U/a.jpg" -o "$T/h10r.jpg" 2>/dev/null && cmp -s "$T/h10r.jpg" "$T/photo.jpg" && n10=$((n10 + 1))
done
check "HTTP/1.0 GET inside CONNECT, 10 times: whole and decrypted each time ($n10)" '[ "$n10" = 10 ]'
check "HTTP/1.0 PUT encrypted" 'curl -sS -0 --max-time 20 --proxy "http://127.0.0.1:$PPORT" -T "$T/photo.jpg" "$P/h10.jpg" -o /dev/null && cmp -s "$T/www/h10.jpg" "$T/expect.jpg"'

# Expect: 100-continue: the client sees the interim 100 and then the final answer
pcurl -v -H "Expect: 100-continue" -T "$T/photo.jpg" "$U/e.jpg" -o /dev/null 2> "$T/expect.err"
check "Expect: 100-continue gets 100 Continue" 'grep -q "< HTTP/1.1 100" "$T/expect.err"'
check "... then the final answer, body encrypted" 'grep -q "< HTTP/1.1 20[14]" "$T/expect.err" && cmp -s "$T/www/e.jpg" "$T/expect.jpg"'

# HEAD then GET on one connection (the HEAD answer has a Content-Length but no body)
check "HEAD then GET on one connection" 'pcurl -I "$U/a.jpg" -o "$T/head.h" --next --proxy "http://127.0.0.1:$PPORT" --cacert "$STATE/ca.pem" "$U/a.jpg" -o "$T/hg.jpg" -w "%{num_connects}" > "$T/hg.n" && grep -qi "^content-length: $size" "$T/head.h" && cmp -s "$T/hg.jpg" "$T/photo.jpg" && [ "$(cat "$T/hg.n")" = 0 ]'

# chunked trailers, both ways: nginx neither shows the request trailers it got nor lets a test
# choose response trailers freely, so the upstream here is proxytool listen1 (it saves the raw
# request and answers with a chunked body and a trailer)
start_listen1 "$T/l1.req"
printf 'PUT http://127.0.0.1:%s/t HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc123\r\n\r\n' "$LPORT" > "$T/tr.req"
"$TOOL" raw "$PPORT" "$T/tr.req" "$T/tr.out"
wait $LPID
check "request trailer forwarded upstream" 'grep -qa "^X-Checksum: abc123" "$T/l1.req"'
check "request body relayed chunked" 'grep -qa "^hello" "$T/l1.req"'
check "response trailer forwarded to the client" 'grep -qa "^X-Reply-Trailer: yes" "$T/tr.out"'

# stale keep-alive upstream: the second request on a reused connection finds it closed by the
# server before any answer (nginx's 444 on /close); a GET is sent once more on a new connection
before=$(grep -c '"GET /close' "$T/nginx-access.log")
pcurl "$U/a.jpg" -o /dev/null "$U/close" -o /dev/null 2>/dev/null
after=$(grep -c '"GET /close' "$T/nginx-access.log")
check "GET on a reused connection the server closed: retried once ($((after - before)) tries)" '[ $((after - before)) = 2 ]'
check "retry logged" 'grep -q "request sent again on a new one" "$T/proxy.log"'
before=$after
pcurl "$U/close" -o /dev/null 2>/dev/null
after=$(grep -c '"GET /close' "$T/nginx-access.log")
check "on a fresh connection: not retried ($((after - before)) try)" '[ $((after - before)) = 1 ]'

stop_proxy

# upstream TLS sessions are resumed, per name: each curl is a new CONNECT and so a new upstream
# connection; the first to photos.test makes a full handshake, the second resumes its session;
# other.test (the same nginx server) is not resumed with photos.test's session (upsess.c keys by
# name; OpenSSL would refuse it too); after SIGHUP (a new upstream context, a new table) nothing
# made before is resumed (a table shared across contexts makes that check fail)
start_proxy --target-host other.test
reused() { grep -F "\"GET $1 " "$T/nginx-access.log" | tail -1 | sed -n 's/.* reused=\(.\)$/\1/p'; }
pcurl "$U/a.jpg?rs=1" -o /dev/null && pcurl "$U/a.jpg?rs=2" -o /dev/null
pcurl "https://other.test:$SPORT/a.jpg?rs=3" -o /dev/null
check "upstream: first connection to a name makes a full handshake ($(reused "/a.jpg?rs=1"))" '[ "$(reused "/a.jpg?rs=1")" = . ]'
check "upstream: the next one to that name resumes its session ($(reused "/a.jpg?rs=2"))" '[ "$(reused "/a.jpg?rs=2")" = r ]'
check "upstream: another name is not offered it ($(reused "/a.jpg?rs=3"))" '[ "$(reused "/a.jpg?rs=3")" = . ]'
hup_wait "configuration reloaded"
pcurl "$U/a.jpg?rs=4" -o /dev/null && pcurl "$U/a.jpg?rs=5" -o /dev/null
check "upstream: after SIGHUP no older session is resumed ($(reused "/a.jpg?rs=4"))" '[ "$(reused "/a.jpg?rs=4")" = . ]'
check "upstream: ... and new ones are ($(reused "/a.jpg?rs=5"))" '[ "$(reused "/a.jpg?rs=5")" = r ]'
# and the client's side: a client reconnecting through CONNECT resumes its TLS session with the
# proxy (TLS 1.2 by session id or ticket; OpenSSL's server cache, shared by the workers)
nres=$(echo | timeout 30 openssl s_client -proxy "127.0.0.1:$PPORT" -connect "photos.test:$SPORT" \
    -servername photos.test -CAfile "$STATE/ca.pem" -tls1_2 -reconnect 2>/dev/null | grep -c "^Reused, ")
check "client: reconnections resume their TLS session with the proxy ($nres of 5)" '[ "$nres" -ge 4 ]'
stop_proxy

# auth-file: users made by 'imgsec proxy user add' (random passwords, a 0600 file); a client
# without the right Proxy-Authorization gets 407 asking for Basic, for plain requests and
# CONNECT alike; with it, it is served and logged by name; the header never goes upstream (the
# raw request listen1 saw); the setup pages need none; SIGHUP takes a new password, and an old
# one stops working; a file others can read stops the start
A="$T/users"
pw1=$("$IMGSEC" proxy user add --auth-file "$A" alice 2>/dev/null)
check "user add: a 23-character password, a 0600 file" '[ ${#pw1} = 23 ] && [ "$(stat -c %a "$A")" = 600 ] && grep -q "^alice:sha256:" "$A" && ! grep -qF "$pw1" "$A"'
"$IMGSEC" proxy user add --auth-file "$A" bob >/dev/null 2>&1
start_proxy --upstream-self allow --auth-file "$A"
check "start logs the number of users" 'grep -q "proxy users: 2 (auth-file" "$T/proxy.log"'
code=$(pcurl "$P/a.jpg" -D "$T/407.h" -o /dev/null -w "%{http_code}")
check "no credentials, plain request: 407 asking for Basic ($code)" '[ "$code" = 407 ] && grep -qi "^Proxy-Authenticate: Basic realm=\"imgsec proxy\"" "$T/407.h"'
code=$(pcurl "$U/a.jpg" -o /dev/null -w "%{http_connect}" 2>/dev/null)
check "no credentials, CONNECT: 407 ($code)" '[ "$code" = 407 ]'
code=$(pcurl -U "alice:x$pw1" "$P/a.jpg" -o /dev/null -w "%{http_code}")
check "wrong password: 407 ($code)" '[ "$code" = 407 ]'
code=$(pcurl -U "mallory:$pw1" "$P/a.jpg" -o /dev/null -w "%{http_code}")
check "unknown user with a real password: 407 ($code)" '[ "$code" = 407 ]'
check "the right one, plain request: served" 'pcurl -U "alice:$pw1" "$P/a.jpg" -o "$T/au1.jpg" && cmp -s "$T/au1.jpg" "$T/photo.jpg"'
check "the right one, intercepted CONNECT: served" 'pcurl -U "alice:$pw1" "$U/a.jpg" -o "$T/au2.jpg" && cmp -s "$T/au2.jpg" "$T/photo.jpg"'
check "requests logged with the user" '[ "$(grep -c "path=/a.jpg status=200 .*user=alice" "$T/proxy.log")" -ge 2 ]'
start_listen1 "$T/l2.req"
printf 'PUT http://127.0.0.1:%s/t HTTP/1.1\r\nHost: 127.0.0.1\r\nProxy-Authorization: Basic %s\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n' \
    "$LPORT" "$(printf "alice:%s" "$pw1" | base64 -w0)" > "$T/au.req"
"$TOOL" raw "$PPORT" "$T/au.req" "$T/au.out"
wait $LPID
check "served, and the credentials did not go upstream" 'grep -qa "^hello" "$T/l2.req" && ! grep -qai "^Proxy-Authorization" "$T/l2.req"'
check "setup pages need no credentials" '[ "$(curl -sS "http://127.0.0.1:$PPORT/ca.pem" -o /dev/null -w "%{http_code}")" = 200 ]'
check "the setup page says this proxy asks for a user name and password" 'curl -sS "http://127.0.0.1:$PPORT/" | grep -q "This proxy asks for a user name and password"'
pw2=$("$IMGSEC" proxy user add --auth-file "$A" alice 2>/dev/null)
hup_wait "configuration reloaded"
check "after a new password and SIGHUP: the old one gets 407" '[ "$(pcurl -U "alice:$pw1" "$P/a.jpg" -o /dev/null -w "%{http_code}")" = 407 ]'
check "... and the new one is served" '[ "$(pcurl -U "alice:$pw2" "$P/a.jpg" -o /dev/null -w "%{http_code}")" = 200 ]'
"$IMGSEC" proxy user remove --auth-file "$A" bob 2>/dev/null
check "user remove: bob gone, alice kept" '! grep -q "^bob:" "$A" && grep -q "^alice:" "$A"'
stop_proxy
chmod 640 "$A"
check "an auth-file others can read stops the start" '! "$IMGSEC" proxy --listen 127.0.0.1:1 --state-dir "$STATE" --auth-file "$A" 2> "$T/af.err" && grep -q "readable by others; chmod 600 it" "$T/af.err"'
if [ "$fail" -ne 0 ]; then echo "--- proxy log"; tail -30 "$T/proxy.log"; fi
finish
