# Shared by the proxy's shell tests: temp dir, test CA and server certificates, nginx as an HTTPS
# photo service (WebDAV PUT/GET, image_filter thumbnails), the proxy itself, check helpers.
# Everything listens on 127.0.0.1 ports picked here; all of it is stopped on exit.
set -u
IMGSEC=$1
TOOL=$2
T=$(mktemp -d)
pass=0
fail=0
NGINX_PID=""
PROXY_PID=""
cleanup() {
    [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
    [ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null
    sleep 0.2
    rm -rf "$T"
}
trap cleanup EXIT
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { if eval "$2"; then ok; else bad "$1"; fi; }
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit $?
}
need() {
    for t in "$@"; do
        if ! command -v "$t" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$t" ]; then
            if [ "${CI:-}" = true ]; then echo "FAIL: $t is not installed (scripts/install-deps)"; exit 1; fi
            echo "SKIP: $t is not installed (scripts/install-deps)"; exit 77
        fi
    done
}
NGINX=$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)

# Test PKI: a CA the upstream servers' certificates chain to, and a self-signed one it does not.
make_pki() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=imgsec test CA" -keyout "$T/testca.key" -out "$T/testca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=photos.test" \
        -keyout "$T/srv.key" -out "$T/srv.csr" 2>/dev/null
    printf 'subjectAltName=DNS:photos.test,DNS:other.test,DNS:multi.test,IP:127.0.0.1\n' > "$T/san.ext"
    openssl x509 -req -in "$T/srv.csr" -CA "$T/testca.pem" -CAkey "$T/testca.key" -CAcreateserial \
        -days 2 -extfile "$T/san.ext" -out "$T/srv.pem" 2>/dev/null
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=bad.test" -addext "subjectAltName=DNS:bad.test" \
        -keyout "$T/bad.key" -out "$T/bad.pem" 2>/dev/null
}

start_nginx() {
    SPORT=$("$TOOL" freeport)
    BPORT=$("$TOOL" freeport)
    HPORT=$("$TOOL" freeport)
    mkdir -p "$T/www" "$T/tmp" "$T/pieces"
    user=""
    [ "$(id -u)" = 0 ] && user="user root;"
    mods=""
    for m in ngx_http_image_filter_module ngx_http_dav_ext_module; do
        [ -f "/usr/lib/nginx/modules/$m.so" ] && mods="$mods load_module /usr/lib/nginx/modules/$m.so;"
    done
    cat > "$T/nginx.conf" <<NGX
$user
$mods
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx-error.log;
events { worker_connections 256; }
http {
    # the combined format, and whether the client resumed a TLS session (r) or not (.)
    log_format px '\$remote_addr - \$remote_user [\$time_local] "\$request" \$status \$body_bytes_sent reused=\$ssl_session_reused';
    access_log $T/nginx-access.log px;
    client_body_temp_path $T/tmp;
    proxy_temp_path $T/tmp; fastcgi_temp_path $T/tmp; uwsgi_temp_path $T/tmp; scgi_temp_path $T/tmp;
    client_max_body_size 0;
    types { image/jpeg jpg; }
    # Google's resumable upload protocol, as far as nginx can speak it: "start" names a session
    # (X-Goog-Upload-URL with a fresh upload_id); each piece is stored in its own file
    # pieces/<id>.<X-Goog-Upload-Offset>, which the test puts together; the answer says "final"
    # to a finalize; to "query" it answers what the test says it holds (nginx cannot count).
    map \$http_x_goog_upload_command \$goog_status { ~*finalize final; default active; }
    server {
        listen 127.0.0.1:$SPORT ssl;
        server_name photos.test other.test;
        ssl_certificate $T/srv.pem;
        ssl_certificate_key $T/srv.key;
        root $T/www;
        location / { dav_methods PUT DELETE; create_full_put_path on; }
        location /slow/ { alias $T/www/; limit_rate 200k; }
        location = /close { return 444; }
        location /thumb/ { alias $T/www/; image_filter resize 64 64; image_filter_buffer 64M; }
        location = /upload-start {
            add_header X-Goog-Upload-Status active always;
            add_header X-Goog-Upload-URL "https://photos.test:$SPORT/upload/\$request_id?upload_id=\$request_id&upload_protocol=resumable" always;
            add_header X-Goog-Upload-Chunk-Granularity ${GOOG_GRAN:-65536} always;
            return 200;
        }
        location /upload/ {
            # query: the test tells nginx what to claim it holds (?have=N)
            if (\$http_x_goog_upload_command = query) {
                add_header X-Goog-Upload-Status active always;
                add_header X-Goog-Upload-Size-Received \$arg_have always;
                return 200;
            }
            rewrite ^/upload/([0-9a-f]+)\$ /pieces/\$1.\$http_x_goog_upload_offset break;
            root $T;
            dav_methods PUT;
            create_full_put_path on;
            add_header X-Goog-Upload-Status \$goog_status always;
        }
        location /sink/ { client_body_buffer_size 1m; dav_methods PUT; create_full_put_path on; alias $T/sink/; }
    }
    # plain HTTP, for raw protocol tests (pipelining, HTTP/1.0)
    server {
        listen 127.0.0.1:$HPORT;
        server_name plain.test;
        root $T/www;
        location / { dav_methods PUT DELETE; create_full_put_path on; }
        location = /close { return 444; }
    }
    server {
        listen 127.0.0.1:$BPORT ssl;
        server_name bad.test;
        ssl_certificate $T/bad.pem;
        ssl_certificate_key $T/bad.key;
        root $T/www;
    }
}
NGX
    "$NGINX" -p "$T" -c "$T/nginx.conf" -e "$T/nginx-error.log" 2>"$T/nginx-start.log" || {
        cat "$T/nginx-start.log" "$T/nginx-error.log" 2>/dev/null; echo "FAIL: nginx did not start"; exit 1; }
    i=0
    while [ ! -s "$T/nginx.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}

nlisten() { if [ -f "$T/proxy.log" ]; then grep -c "listening on" "$T/proxy.log"; else echo 0; fi; }
# start_proxy [extra flags...]: the proxy on a free port (of PROXY_HOST, default 127.0.0.1; pcurl
# reaches it on 127.0.0.1 either way), trusting the test CA upstream (not with NO_UPSTREAM_CA
# set), state in $T/state, targets *.test but
# other.test, upstream names resolved to nginx; WORKERS threads (default 2, whatever the machine
# has, so that every test crosses threads; 0 = one per CPU); run under PROXY_WRAP (a command
# line such as "prlimit --nofile=N:N") if set.
start_proxy() {
    PPORT=$("$TOOL" freeport)
    STATE=$T/state
    local started ca=(--upstream-ca "$T/testca.pem")
    [ -n "${NO_UPSTREAM_CA:-}" ] && ca=() # the system store alone (test_run.sh)
    started=$(nlisten)
    # shellcheck disable=SC2086 # PROXY_WRAP: a command line the proxy runs under (prlimit ...)
    ${PROXY_WRAP:-} "$IMGSEC" proxy --listen "${PROXY_HOST:-127.0.0.1}:$PPORT" --state-dir "$STATE" \
        --target-host photos.test --target-host bad.test "${ca[@]}" \
        --upstream-connect-to "photos.test::127.0.0.1:$SPORT" \
        --upstream-connect-to "other.test::127.0.0.1:$SPORT" \
        --upstream-connect-to "bad.test::127.0.0.1:$BPORT" \
        --target-host plain.test --upstream-connect-to "plain.test::127.0.0.1:$HPORT" \
        --workers "${WORKERS:-2}" "$@" 2>>"$T/proxy.log" &
    PROXY_PID=$!
    i=0
    while [ "$(nlisten)" = "$started" ] && [ $i -lt 100 ]; do
        sleep 0.1; i=$((i + 1))
        kill -0 "$PROXY_PID" 2>/dev/null || break
    done
    [ "$(nlisten)" != "$started" ] || { cat "$T/proxy.log"; echo "FAIL: proxy did not start"; exit 1; }
}

# start_listen1 OUTFILE: `proxytool listen1 OUTFILE` in the background (one connection, the raw
# request saved); sets LPORT and LPID
start_listen1() {
    "$TOOL" listen1 "$1" > "$1.port" 2>/dev/null &
    LPID=$!
    local i=0
    while [ ! -s "$1.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    LPORT=$(cat "$1.port")
}

# curl through the proxy, trusting only the proxy's CA (so interception is proven)
pcurl() {
    curl -sS --max-time 60 --proxy "http://127.0.0.1:$PPORT" --cacert "$STATE/ca.pem" "$@"
}
# curl straight to nginx (the cloud's own view), trusting the test CA
dcurl() {
    curl -sS --max-time 60 --cacert "$T/testca.pem" --resolve "photos.test:$SPORT:127.0.0.1" \
        --resolve "other.test:$SPORT:127.0.0.1" "$@"
}

# hup_wait PATTERN: SIGHUP to the proxy, then wait (10 s at most) for one more log line with
# PATTERN; the workers take the new configuration from their queues just after
hup_wait() {
    local n i=0
    n=$(grep -c "$1" "$T/proxy.log")
    kill -HUP "$PROXY_PID"
    while [ "$(grep -c "$1" "$T/proxy.log")" = "$n" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    sleep 0.2
}

# stop_proxy: SIGTERM, then checks it exited 0 with no sanitizer report (ASan builds)
stop_proxy() {
    kill -TERM "$PROXY_PID"
    i=0
    while kill -0 "$PROXY_PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    check "SIGTERM stops the proxy" '! kill -0 "$PROXY_PID" 2>/dev/null'
    wait "$PROXY_PID"; rc=$?
    PROXY_PID=""
    check "exit status 0 after SIGTERM ($rc)" '[ $rc -eq 0 ]'
    check "no sanitizer report" '! grep -qE "AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error" "$T/proxy.log"'
}
