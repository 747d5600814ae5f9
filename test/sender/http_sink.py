#!/usr/bin/python3
"""An HTTP e-mail API sink for the sender's tests on 127.0.0.1 (Python's http.server).

POST /send with a JSON body and "Authorization: Bearer TOKEN". Every request is a line of
DIR/requests.jsonl (status answered, the body); accepted ones also of DIR/accepted.jsonl. The
answer depends on DIR/mode, read on each request: "ok" (200 {"id": "esp-N"}), "503" (all fail),
"429-once" (the first request of each send_id gets 429 with Retry-After: 1, later ones 200).
An address listed in DIR/reject (one per line) gets 400. A wrong token gets 401. Writes its
port to DIR/port once it listens."""
import argparse
import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
ap.add_argument("--token", required=True)
args = ap.parse_args()
os.makedirs(args.dir, exist_ok=True)
lock = threading.Lock()
state = {"n": 0, "seen": set()}


def read(name, default=""):
    try:
        with open(os.path.join(args.dir, name)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return default


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body, extra=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            mode = read("mode", "ok")
            rejects = read("reject").split()
            sid = (body or {}).get("custom_args", {}).get("send_id")
            extra = ()
            if self.headers.get("Authorization") != "Bearer " + args.token:
                status, reply = 401, {"error": "bad token"}
            elif body is None or self.path != "/send":
                status, reply = 400, {"error": "bad request"}
            elif body.get("to") in rejects:
                status, reply = 400, {"error": "invalid recipient"}
            elif mode == "503":
                status, reply = 503, {"error": "unavailable"}
            elif mode == "429-once" and sid not in state["seen"]:
                state["seen"].add(sid)
                status, reply, extra = 429, {"error": "slow down"}, (("Retry-After", "1"),)
            else:
                state["n"] += 1
                status, reply = 200, {"id": "esp-%d" % state["n"]}
            line = json.dumps({"status": status, "body": body, "idempotency_key": self.headers.get("Idempotency-Key"),
                               "reply": reply}) + "\n"
            with open(os.path.join(args.dir, "requests.jsonl"), "a") as f:
                f.write(line)
            if status == 200:
                with open(os.path.join(args.dir, "accepted.jsonl"), "a") as f:
                    f.write(line)
        self.answer(status, reply, extra)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(os.path.join(args.dir, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(args.dir, "port.tmp"), os.path.join(args.dir, "port"))
signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown).start())
server.serve_forever()
