#!/bin/bash
# Worker threads (--workers 3): connections are spread over the threads, and what they share
# stays right: concurrent uploads on every worker are all encrypted and index their ciphertexts
# (an upload on one thread downloads decrypted on another), leaf certificates come from the one
# shared cache, SIGHUP reaches every worker, SIGTERM drains in-flight requests on every worker
# (and drain-timeout or a second SIGTERM end the drain on every worker).
# Usage: test_workers.sh IMGSEC PROXYTOOL
. "$(dirname "$0")/lib.sh"
need nginx curl openssl sqlite3
make_pki
start_nginx
cat > "$T/proxy.conf" <<CONF
client-timeout 10
CONF
WORKERS=3 start_proxy -c "$T/proxy.conf"
U="https://photos.test:$SPORT"
check "three worker threads" 'grep -q "3 worker thread(s)" "$T/proxy.log"'
for i in 1 2 3 4; do "$TOOL" mkjpeg 1200 900 90 $((30 + i)) "$T/p$i.jpg"; done
for i in 1 2 3 4; do "$IMGSEC" jpeg encrypt -k "$STATE/key" -o "$T/e$i.jpg" "$T/p$i.jpg"; done
# workers of the log lines of requests with this path prefix
workers_of() { grep -oE "w=[0-9]+ host=photos.test[^ ]* method=$1 path=/$2" "$T/proxy.log" | cut -d' ' -f1 | sort -u | wc -l; }

# 12 uploads at once, each on its own connection: every worker gets some
: > "$T/up.cfg"
for i in $(seq 1 12); do
    printf 'url = "%s/par/%d.jpg"\nupload-file = "%s"\noutput = "/dev/null"\n' "$U" "$i" "$T/p$(( (i - 1) % 4 + 1 )).jpg" >> "$T/up.cfg"
done
pcurl -Z --parallel-max 12 --parallel-immediate -K "$T/up.cfg" -w '%{http_code}\n' > "$T/up.out"
check "12 concurrent uploads answered 201/204" '[ "$(grep -cE "^20[14]$" "$T/up.out")" = 12 ]'
ok_enc=0
for i in $(seq 1 12); do cmp -s "$T/www/par/$i.jpg" "$T/e$(( (i - 1) % 4 + 1 )).jpg" && ok_enc=$((ok_enc + 1)); done
check "all 12 stored as imgsec jpeg encrypt ($ok_enc)" '[ $ok_enc = 12 ]'
nw=$(workers_of PUT par)
check "the uploads ran on all 3 workers ($nw)" '[ "$nw" = 3 ]'

# 12 downloads at once: each decrypted, whichever thread indexed it
: > "$T/down.cfg"
for i in $(seq 1 12); do printf 'url = "%s/par/%d.jpg"\noutput = "%s/got%d.jpg"\n' "$U" "$i" "$T" "$i" >> "$T/down.cfg"; done
pcurl -Z --parallel-max 12 --parallel-immediate -K "$T/down.cfg" -w '%{http_code}\n' > "$T/down.out"
ok_dec=0
for i in $(seq 1 12); do cmp -s "$T/got$i.jpg" "$T/p$(( (i - 1) % 4 + 1 )).jpg" && ok_dec=$((ok_dec + 1)); done
check "all 12 downloads decrypted to the originals ($ok_dec)" '[ $ok_dec = 12 ]'
nw=$(workers_of GET par)
check "the downloads ran on all 3 workers ($nw)" '[ "$nw" = 3 ]'
rows=$(sqlite3 "$STATE/index.sqlite" "select count(*), sum(length(view) = 32) from ciphertexts; pragma user_version" 2>&1 | tr '\n' ' ')
check "one index row per ciphertext, each with its view digest, index version 1 ($rows)" '[ "$rows" = "4|4 1 " ]'

# SIGHUP reaches every worker: with max-header-bytes 1024 from the file, a 2 KB head gets 431 on
# every new connection, whichever thread takes it; back to the default, it passes again
hdr=$(head -c 2000 /dev/zero | tr '\0' a)
reload() { hup_wait "configuration reloaded"; }
codes() { for i in 1 2 3 4 5 6; do pcurl -H "X-Big: $hdr" "$U/par/1.jpg" -o /dev/null -w "%{http_code}\n"; sleep 0.1; done | sort | uniq -c | tr -s ' '; }
c0=$(codes)
check "before: a 2 KB head is served on every connection ($c0)" '[ "$c0" = " 6 200" ]'
printf 'max-header-bytes 1024\n' >> "$T/proxy.conf"
reload
c1=$(codes)
check "after SIGHUP: 431 on every new connection ($c1)" '[ "$c1" = " 6 431" ]'
nw=$(grep -oE "w=[0-9]+ host=[^ ]* method=[^ ]* path=[^ ]* status=431" "$T/proxy.log" | cut -d' ' -f1 | sort -u | wc -l)
check "the 431s came from all 3 workers ($nw)" '[ "$nw" = 3 ]'
sed -i '/max-header-bytes/d' "$T/proxy.conf"
reload
c2=$(codes)
check "after a second SIGHUP: served again ($c2)" '[ "$c2" = " 6 200" ]'
nw=$(workers_of GET par/1.jpg)
check "those requests ran on all 3 workers ($nw)" '[ "$nw" = 3 ]'

# SIGTERM drains every worker: three throttled downloads in flight (one per worker) complete
for i in 1 2 3; do cp "$T/p$i.jpg" "$T/www/d$i.jpg"; done
for i in 1 2 3; do pcurl "$U/slow/d$i.jpg" -o "$T/drain$i.jpg" & eval "dpid$i=$!"; done
sleep 0.6
nw=$(grep -c "" "$T/proxy.log")
stop_proxy
for i in 1 2 3; do eval "wait \$dpid$i"; done
dr=0
for i in 1 2 3; do cmp -s "$T/drain$i.jpg" "$T/p$i.jpg" && dr=$((dr + 1)); done
check "3 in-flight downloads finished during the drain ($dr)" '[ $dr = 3 ]'
nw=$(workers_of GET slow)
check "they ran on all 3 workers ($nw)" '[ "$nw" = 3 ]'

# drain-timeout on every worker: three downloads too slow for a 1 s drain are cut, the proxy
# exits 0; and a second SIGTERM stops the drain at once
head -c 3000000 /dev/urandom > "$T/www/big.bin"
for round in timeout twice; do
    WORKERS=3 start_proxy --drain-timeout 1
    for i in 1 2 3; do pcurl "$U/slow/big.bin" -o /dev/null 2>/dev/null & done
    sleep 0.5
    kill -TERM "$PROXY_PID"
    if [ $round = twice ]; then sleep 0.1; kill -TERM "$PROXY_PID"; fi
    i=0; while kill -0 "$PROXY_PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    check "$round: the proxy stopped" '! kill -0 "$PROXY_PID" 2>/dev/null'
    wait "$PROXY_PID"; rc=$?
    PROXY_PID=""
    check "$round: exit status 0 ($rc)" '[ $rc -eq 0 ]'
    wait
done
check "drain timeout logged" 'grep -q "drain timeout: closing 3 connection(s)" "$T/proxy.log"'
check "no sanitizer report" '! grep -qE "AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error" "$T/proxy.log"'
check "log lines are whole (each starts with a time stamp)" '! grep -vqE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T" "$T/proxy.log"'
if [ "$fail" -ne 0 ]; then echo "--- proxy log"; tail -${LOGLINES:-40} "$T/proxy.log"; fi
finish
