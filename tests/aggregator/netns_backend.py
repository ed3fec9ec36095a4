"""
A small HTTP(S) server the proxy tests start inside a network namespace of their own (it stands
for a pod, a Service endpoint or a kubelet): it answers every request with a JSON echo of what it
received (method, path with query, headers, body); C{/stream} sends three chunks a little apart;
an upgrade request gets C{101 Switching Protocols} and then every byte back upper-cased.

Usage: C{python netns_backend.py HOST PORT [CERT KEY [ROUTES]]}; prints C{ready} once listening.
C{ROUTES} names a JSON file of C{{path: document}}: a GET of such a path (query ignored) answers
that document (an extension API server's discovery and OpenAPI).
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time


def _read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


ROUTES: dict = {}
#: C{host:port} this server listens on.
SELF = ""


def _serve(conn: socket.socket) -> None:
    try:
        while True:
            head, rest = _read_head(conn)
            if not head:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers: dict[str, list[str]] = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers.setdefault(k.strip().lower(), []).append(v.strip())
            length = int((headers.get("content-length") or ["0"])[0])
            body = rest
            while len(body) < length:
                more = conn.recv(65536)
                if not more:
                    break
                body += more
            if "upgrade" in ",".join(headers.get("connection", [])).lower():
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "
                             + (headers.get("upgrade") or ["x"])[0].encode() + b"\r\nX-Echo-Path: "
                             + target.encode() + b"\r\n\r\n")
                if body:
                    conn.sendall(body.upper())
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return
                    conn.sendall(data.upper())
            if method == "GET" and target.split("?")[0] in ROUTES:
                doc = json.dumps(ROUTES[target.split("?")[0]]).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(doc)).encode() + b"\r\n\r\n" + doc)
                continue
            if target.startswith("/redirect"):
                where = f"http://{SELF}/landing/" if target == "/redirect" else "/landing?x=1"
                conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: " + where.encode() + b"\r\nAccess-Control-Allow-Origin: *"
                             b"\r\nContent-Length: 0\r\n\r\n")
                continue
            if target.startswith("/stream"):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
                for i in range(3):
                    piece = f"line {i}\n".encode()
                    conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                    time.sleep(0.05)
                conn.sendall(b"0\r\n\r\n")
                continue
            out = json.dumps({"method": method, "path": target, "headers": headers,
                              "body": body.decode("utf-8", "replace")}).encode()
            code = b"418 I'm a teapot" if target.startswith("/teapot") else b"200 OK"
            conn.sendall(b"HTTP/1.1 " + code + b"\r\nContent-Type: application/json\r\nX-Backend: yes\r\nContent-Length: "
                         + str(len(out)).encode() + b"\r\n\r\n" + out)
    except (OSError, ValueError):
        return
    finally:
        conn.close()


def main() -> None:
    global SELF
    host, port = sys.argv[1], int(sys.argv[2])
    SELF = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    context = None
    if len(sys.argv) > 4:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
    if len(sys.argv) > 5:
        with open(sys.argv[5]) as f:
            ROUTES.update(json.load(f))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen(64)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        if context is not None:
            try:
                conn = context.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                continue
        threading.Thread(target=_serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
