#!/usr/bin/env python3
"""A hostile man in the middle between `imgsec vcs verify` and the verifier, for the tests.

mitm.py LISTEN_SOCK UPSTREAM_SOCK MODE STATEDIR
  record      forward, and save each /v1/verify response to STATEDIR/saved.http
  replay      answer /v1/verify with STATEDIR/saved.http (an old report, old nonce)
  tamper      forward, then flip one byte of the record's nc value in the response
  tamper-sig  forward, then flip the last byte of the signature
  substitute  keep the client's nonce but send STATEDIR/sub-a.tiff and sub-b.tiff upstream
Unix sockets only; one request per connection, as the client does."""
import http.client
import os
import re
import socket
import socketserver
import sys
from http.server import BaseHTTPRequestHandler

listen, upstream, mode, state = sys.argv[1:5]


class UConn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(upstream)


def multipart(parts):
    b = b"mitmboundary7c1e"
    out = b""
    for name, data in parts:
        out += b"--" + b + b"\r\nContent-Disposition: form-data; name=\"" + name + b"\"\r\n\r\n" + data + b"\r\n"
    out += b"--" + b + b"--\r\n"
    return out, "multipart/form-data; boundary=" + b.decode()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *a):
        pass

    def send_raw(self, raw):
        self.wfile.write(raw)
        self.wfile.flush()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ctype = self.headers["Content-Type"]
        saved = os.path.join(state, "saved.http")
        if mode == "replay":
            self.send_raw(open(saved, "rb").read())
            return
        if mode == "substitute":
            nonce = re.search(rb'name="nonce"\r\n(?:[^\r\n]*\r\n)*\r\n([0-9a-f]{64})\r\n', body).group(1)
            a = open(os.path.join(state, "sub-a.tiff"), "rb").read()
            b = open(os.path.join(state, "sub-b.tiff"), "rb").read()
            body, ctype = multipart([(b"nonce", nonce), (b"a", a), (b"b", b)])
        c = UConn("localhost")
        c.request("POST", self.path, body, {"Content-Type": ctype})
        r = c.getresponse()
        data = r.read()
        if mode == "tamper":
            i = data.index(b"\nnc=") + 6  # a digit of the NC value
            data = data[:i] + bytes([data[i] ^ 1]) + data[i + 1:]
        elif mode == "tamper-sig":
            data = data[:-2] + bytes([data[-2] ^ 1]) + data[-1:]
        raw = (b"HTTP/1.1 %d OK\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
               % (r.status, r.getheader("Content-Type").encode(), len(data))) + data
        if mode == "record":
            with open(saved, "wb") as f:
                f.write(raw)
        self.send_raw(raw)


class S(socketserver.UnixStreamServer):
    def get_request(self):
        req, _ = super().get_request()
        return req, ("local", 0)


if os.path.exists(listen):
    os.unlink(listen)
S(listen, H).serve_forever()
