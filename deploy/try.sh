#!/usr/bin/env bash
# deploy/try.sh: run wsecho behind nginx with TLS, the way deploy/nginx.conf
# describes: two copies (127.0.0.1:9001, :9002), nginx on https://127.0.0.1:8443/.
# Run it from the repository root; Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

BIN=/tmp/wsecho-deploy
DIR=$(mktemp -d /tmp/wsecho-nginx.XXXXXX)   # nginx's prefix: config, cert, logs, temp dirs, pid files
chmod 755 "$DIR"                             # nginx workers (user nobody when run as root) must reach it

go build -o "$BIN" .

# A self-signed certificate for 127.0.0.1 and localhost, valid a week.
openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj /CN=localhost \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null
cp deploy/nginx.conf "$DIR/"

# -trust-proxy: the server believes X-Forwarded-For from nginx's address, and
# logs and counts each client under its own address, not nginx's.
FLAGS="-trust-proxy 127.0.0.1/32"

start() { # start PORT: one copy, its pid in $DIR/PORT.pid
    "$BIN" -addr "127.0.0.1:$1" $FLAGS &
    echo $! > "$DIR/$1.pid"
}

stop() {
    trap - EXIT INT TERM
    echo; echo "stopping..."
    for f in "$DIR"/*.pid; do kill -TERM "$(cat "$f")" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DIR"
    exit 0
}
trap stop EXIT INT TERM

start 9001
start 9002
nginx -p "$DIR" -c nginx.conf -e stderr &    # nginx.conf says daemon off and pid nginx.pid
sleep 1
kill -0 $! 2>/dev/null || { echo "nginx did not start (see above)" >&2; exit 1; }

cat <<MSG

  Open https://127.0.0.1:8443/   (self-signed: accept the warning, or curl -k)
       https://127.0.0.1:8443/push.html   https://127.0.0.1:8443/lab.html
  Logs: $DIR/access.log (upstream= shows which copy answered), $DIR/error.log

  Rolling restart, in another terminal, one copy at a time:
    kill -TERM \$(cat $DIR/9001.pid)      # its WebSockets get Close 1001; new requests go to 9002
    $BIN -addr 127.0.0.1:9001 $FLAGS & echo \$! > $DIR/9001.pid
  then the same for 9002.

  Ctrl-C stops nginx and both copies.
MSG
wait
