#!/usr/bin/env python3
"""A deliberately wrong "cluster" for the CLI bad-input test.

usage: fake_server.py MODE PORTFILE [CERT KEY]
  html  - answers 200 with an HTML page (not Elasticsearch)
  401   - answers 401 with an Elasticsearch-style security error
  tls   - like html, but over TLS with the given (self-signed) cert
Binds 127.0.0.1 on a free port, writes the port to PORTFILE, and exits by
itself after 60 seconds so a failed test never leaves it behind.
"""
import http.server
import ssl
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if MODE == "401":
            body = (b'{"error":{"type":"security_exception","reason":"missing authentication '
                    b'credentials for REST request [/]"},"status":401}')
            self.send_response(401)
            self.send_header("content-type", "application/json")
            self.send_header("WWW-Authenticate", 'Basic realm="security"')
        else:
            body = b"<html><body>It works!</body></html>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


MODE = sys.argv[1]
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if MODE == "tls":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(sys.argv[2], "w") as f:
    f.write(str(server.server_address[1]))
threading.Timer(60, server.shutdown).start()
server.serve_forever()
