#!/bin/bash
# `make run` and the system certificate store, neither of which the other proxy tests reach.
# 1. `make run` is scripts/run-proxy BUILD RUN_LISTEN (`make -n run` must say so). Run with
#    XDG_DATA_HOME=$T/data (not there yet) on a free port, it: listens, and is the proxy itself
#    (exec); prints the port and the state dir; makes STATE/key and STATE/ca.key (mode 600),
#    STATE/ca.pem, and exports the CA as PEM and DER (ca-export.pem, ca-export.cer) with the same
#    fingerprint; relays a request; exits 0 soon after SIGINT; a second run on the same state keeps
#    the CA and the key. With XDG_DATA_HOME unset the state goes under $HOME/.local/share.
# 2. System store = OpenSSL's default verify paths, pointed at the test CA with SSL_CERT_FILE:
#    a proxy WITHOUT --upstream-ca trusts nginx (its certificate chains to the test CA) for an
#    intercepted host, PUT 201 and GET 200; with SSL_CERT_FILE holding only an unrelated CA
#    (bad.pem) the same requests get a 502.
# Usage: test_run.sh IMGSEC PROXYTOOL
# check's conditions are single-quoted for eval, and use variables and functions only they use:
# shellcheck disable=SC2016,SC2034,SC2317
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need nginx curl openssl make
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=$(cd "$(dirname "$IMGSEC")" && pwd -P)
RUN=$SRC/scripts/run-proxy
RUN_EXTRA=() # proxy flags run_start passes after the address
make_pki
start_nginx

# run_start OUT [NAME=VALUE | -u NAME]...: scripts/run-proxy BUILD_DIR 127.0.0.1:RPORT in the
# background with that environment (env(1)), PROXY_PID its pid, stdout and stderr in OUT; waits
# (10 s at most) for the proxy's own "listening on" line
run_start() {
    local out=$1 i=0
    shift
    RPORT=$("$TOOL" freeport)
    : >"$out"
    env "$@" "$RUN" "$BUILD_DIR" "127.0.0.1:$RPORT" ${RUN_EXTRA:+"${RUN_EXTRA[@]}"} >"$out" 2>&1 &
    PROXY_PID=$!
    while ! grep -q "imgsec-proxy: listening on" "$out" && [ $i -lt 100 ]; do
        sleep 0.1; i=$((i + 1))
        kill -0 "$PROXY_PID" 2>/dev/null || break
    done
}
# run_int: SIGINT to PROXY_PID, waits 5 s at most; RUN_GONE=1 if it ended, RUN_RC its status.
# If it is still there (a shell that did not exec ignores SIGINT), its children and it are stopped.
run_int() {
    local i=0
    kill -INT "$PROXY_PID"
    while kill -0 "$PROXY_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    RUN_GONE=1
    if kill -0 "$PROXY_PID" 2>/dev/null; then
        RUN_GONE=0
        pkill -TERM -P "$PROXY_PID"
        kill -TERM "$PROXY_PID"
    fi
    wait "$PROXY_PID"; RUN_RC=$?
    PROXY_PID=""
}
fp() { openssl x509 -noout -fingerprint -sha256 "$@" 2>/dev/null; }
listens() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- 1. make run = scripts/run-proxy
check "make -n run calls scripts/run-proxy BUILD RUN_LISTEN (defaults)" \
    'env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD -u RUN_LISTEN -u RUN_FLAGS make -n -C "$SRC" run 2>&1 | grep -qx "scripts/run-proxy build 127.0.0.1:8080"'
check "make -n run passes BUILD, RUN_LISTEN and RUN_FLAGS on" \
    'env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n -C "$SRC" run BUILD=b2 RUN_LISTEN=0.0.0.0:9 RUN_FLAGS="--allow 10.0.0.0/8" 2>&1 | grep -qx "scripts/run-proxy b2 0.0.0.0:9 --allow 10.0.0.0/8"'
check "run-proxy without arguments: usage, status 2" '"$RUN" >/dev/null 2>&1; [ $? = 2 ]'

STATE=$T/data/imgsec
run_start "$T/run1.out" XDG_DATA_HOME="$T/data"
P1=$RPORT
check "run-proxy: the proxy listens on 127.0.0.1:$P1" 'listens "$P1"'
# (imgsec itself may exec BUILD/imgsec-ext: either is the proxy; bash would be the shell)
check "run-proxy execs the proxy (its pid runs BUILD/imgsec*, not a shell)" \
    'case "$(readlink "/proc/$PROXY_PID/exe")" in "$BUILD_DIR"/imgsec*) true ;; *) false ;; esac'
check "text names the listen address and the state dir" \
    'grep -qxF "imgsec proxy: listening on 127.0.0.1:$P1, state in $STATE" "$T/run1.out"'
lan="make run RUN_LISTEN=0.0.0.0:$P1 on a trusted LAN"
check "device instructions name the port, the PAC URL and the setup page" 'grep -q "server = this machine, port $P1,\$" "$T/run1.out" && grep -qF -- "$lan" "$T/run1.out" && grep -qF "http://ADDR:$P1/proxy.pac" "$T/run1.out" && grep -qF "opening http://ADDR:$P1/ gets" "$T/run1.out"'
check "text names the CA file to install and the key" \
    'grep -qF "$STATE/ca-export.cer" "$T/run1.out" && grep -qF -- "-k $STATE/key " "$T/run1.out"'
check "state dir (and its missing parents) created, mode 700" '[ "$(stat -c %a "$STATE")" = 700 ]'
check "STATE/key exists, mode 600" '[ -f "$STATE/key" ] && [ "$(stat -c %a "$STATE/key")" = 600 ]'
check "STATE/ca.key exists, mode 600" '[ -f "$STATE/ca.key" ] && [ "$(stat -c %a "$STATE/ca.key")" = 600 ]'
check "STATE/ca.pem is a certificate (openssl x509)" 'openssl x509 -in "$STATE/ca.pem" -noout 2>/dev/null'
check "STATE/ca-export.pem is STATE/ca.pem" 'cmp -s "$STATE/ca-export.pem" "$STATE/ca.pem"'
check "STATE/ca-export.cer is DER (openssl x509 -inform DER)" \
    'openssl x509 -inform DER -in "$STATE/ca-export.cer" -noout 2>/dev/null'
fp1=$(fp -in "$STATE/ca.pem")
check "ca-export.cer has ca.pem's fingerprint" \
    '[ -n "$fp1" ] && [ "$(fp -inform DER -in "$STATE/ca-export.cer")" = "$fp1" ]'
# on its defaults it will not take clients to this machine itself (upstream-self deny): nginx
# here is on 127.0.0.1, so a request for it gets 403 and nothing reaches nginx
printf 'through make run\n' > "$T/run.txt"
rcurl() { curl -sS --max-time 20 --proxy "http://127.0.0.1:$RPORT" "$@"; }
check "run-proxy's proxy on defaults: a PUT to this machine is refused, 403, nothing stored" \
    '[ "$(rcurl -T "$T/run.txt" "http://127.0.0.1:$HPORT/run/a.txt" -o "$T/run403" -w "%{http_code}")" = 403 ] && grep -q "upstream-self" "$T/run403" && [ ! -e "$T/www/run/a.txt" ]'
cp "$STATE/key" "$T/key1"
cp "$STATE/ca.key" "$T/cakey1"
run_int
check "SIGINT stops it within 5 s" '[ "$RUN_GONE" = 1 ]'
check "exit status 0 after SIGINT ($RUN_RC)" '[ "$RUN_RC" = 0 ]'

# a second run on the same state: same CA, same key; proxy flags after the address are passed
# on (make run RUN_FLAGS=...): with --upstream-self allow it relays to nginx here
RUN_EXTRA=(--upstream-self allow)
run_start "$T/run2.out" XDG_DATA_HOME="$T/data"
RUN_EXTRA=()
check "second run listens" 'listens "$RPORT"'
check "PUT through run-proxy's proxy (RUN_FLAGS --upstream-self allow): 201" \
    '[ "$(rcurl -T "$T/run.txt" "http://127.0.0.1:$HPORT/run/a.txt" -o /dev/null -w "%{http_code}")" = 201 ] && cmp -s "$T/www/run/a.txt" "$T/run.txt"'
check "GET through run-proxy's proxy: 200, the same bytes" \
    '[ "$(rcurl "http://127.0.0.1:$HPORT/run/a.txt" -o "$T/run.got" -w "%{http_code}")" = 200 ] && cmp -s "$T/run.got" "$T/run.txt"'
check "second run keeps the CA (same fingerprint, same CA key)" \
    '[ "$(fp -in "$STATE/ca.pem")" = "$fp1" ] && cmp -s "$STATE/ca.key" "$T/cakey1"'
check "second run exports the same CA (DER)" '[ "$(fp -inform DER -in "$STATE/ca-export.cer")" = "$fp1" ]'
check "second run keeps the key" 'cmp -s "$STATE/key" "$T/key1"'
run_int
check "second run: exit status 0 after SIGINT ($RUN_GONE, $RUN_RC)" '[ "$RUN_GONE" = 1 ] && [ "$RUN_RC" = 0 ]'

# XDG_DATA_HOME unset: $HOME/.local/share/imgsec (HOME's .local/share not there yet)
mkdir -p "$T/home"
HSTATE=$T/home/.local/share/imgsec
run_start "$T/run3.out" -u XDG_DATA_HOME HOME="$T/home"
check "XDG_DATA_HOME unset: listens, state in \$HOME/.local/share/imgsec" \
    'listens "$RPORT" && grep -qxF "imgsec proxy: listening on 127.0.0.1:$RPORT, state in $HSTATE" "$T/run3.out" && [ -f "$HSTATE/ca-export.cer" ] && [ "$(stat -c %a "$HSTATE/key")" = 600 ]'
run_int
check "XDG_DATA_HOME unset: exit status 0 after SIGINT" '[ "$RUN_GONE" = 1 ] && [ "$RUN_RC" = 0 ]'
if [ "$fail" -ne 0 ]; then echo "--- run-proxy output"; cat "$T"/run[123].out; fi

# --- 2. system store = OpenSSL's default verify paths, pointed at the test CA with SSL_CERT_FILE
# start_sys CERTFILE: start_proxy WITHOUT --upstream-ca, with SSL_CERT_FILE=CERTFILE (photos.test
# intercepted and sent to nginx); pcurl (which trusts only the proxy's CA) talks to it
start_sys() { SSL_CERT_FILE=$1 NO_UPSTREAM_CA=1 start_proxy; }
U="https://photos.test:$SPORT"
printf 'not a JPEG\n' > "$T/note.txt"

start_sys "$T/testca.pem"
check "SSL_CERT_FILE=test CA: no --upstream-ca on the command line" '! tr "\0" " " < "/proc/$PROXY_PID/cmdline" | grep -q upstream-ca'
code=$(pcurl -T "$T/note.txt" "$U/sys/note.txt" -o /dev/null -w "%{http_code}")
check "SSL_CERT_FILE=test CA: intercepted PUT 201 ($code)" '[ "$code" = 201 ] && cmp -s "$T/www/sys/note.txt" "$T/note.txt"'
code=$(pcurl "$U/sys/note.txt" -o "$T/note.got" -w "%{http_code}")
check "SSL_CERT_FILE=test CA: intercepted GET 200 ($code)" '[ "$code" = 200 ] && cmp -s "$T/note.got" "$T/note.txt"'
check "SSL_CERT_FILE=test CA: the proxy logged both as photos.test requests" \
    'grep -q "host=photos.test.*method=PUT.*path=/sys/note.txt.*status=201" "$T/proxy.log" && grep -q "host=photos.test.*method=GET.*path=/sys/note.txt.*status=200" "$T/proxy.log"'
stop_proxy

start_sys "$T/bad.pem"
code=$(pcurl -T "$T/note.txt" "$U/sys/bad.txt" -o "$T/bad-put.txt" -w "%{http_code}")
check "SSL_CERT_FILE=unrelated CA: the same PUT gets 502 ($code), nothing stored" '[ "$code" = 502 ] && [ ! -e "$T/www/sys/bad.txt" ]'
check "SSL_CERT_FILE=unrelated CA: the 502 says why" 'grep -q "not trusted" "$T/bad-put.txt"'
code=$(pcurl "$U/sys/note.txt" -o /dev/null -w "%{http_code}")
check "SSL_CERT_FILE=unrelated CA: the same GET gets 502 ($code)" '[ "$code" = 502 ]'
stop_proxy

# docs/proxy.conf.example is a working file: the proxy starts on it (listen and state-dir given
# as flags, which win over the file's)
EPORT=$("$TOOL" freeport)
"$IMGSEC" proxy -c "$SRC/docs/proxy.conf.example" --listen "127.0.0.1:$EPORT" --state-dir "$T/exstate" \
    >"$T/example.out" 2>&1 &
PROXY_PID=$!
i=0
while ! grep -q "listening on" "$T/example.out" && [ $i -lt 100 ]; do
    sleep 0.1; i=$((i + 1)); kill -0 "$PROXY_PID" 2>/dev/null || break
done
check "the proxy starts on docs/proxy.conf.example" 'listens "$EPORT" && grep -q "4 target pattern(s)" "$T/example.out"'
kill -TERM "$PROXY_PID"; wait "$PROXY_PID"; PROXY_PID=""

if [ "$fail" -ne 0 ]; then echo "--- proxy log"; tail -30 "$T/proxy.log"; fi
finish
