#!/usr/bin/python3
"""An SMTP sink for the sender's tests and bench (Debian's python3-aiosmtpd) on 127.0.0.1.

Stores each message it accepts as DIR/msg-N.eml and a line of DIR/log.jsonl (n, rcpt_tos,
mail_from, Message-ID, X-Personalize-Send-Id, the time it arrived, whether the session was TLS,
the login it authenticated as); replies "250 OK queued as N", so a test can
match the provider id a send records. Each EHLO/HELO (one per connection) appends a line to
DIR/connections. --refuse ADDR answers RCPT TO for ADDR with 550 (a permanent refusal);
--discard keeps nothing but a count (bench). --tls-cert and --tls-key offer STARTTLS with that
certificate; --auth USER:PASSWORD requires AUTH (PLAIN or LOGIN; --auth-mechanism M offers only M) before MAIL, offered only
after STARTTLS when TLS is on, and logs each AUTH outcome to DIR/auth. Writes its port to DIR/port
once it listens (--port 0 picks a free one)."""
import argparse
import json
import os
import re
import signal
import ssl
import sys

import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--refuse", action="append", default=[])
ap.add_argument("--discard", action="store_true")
ap.add_argument("--tls-cert")
ap.add_argument("--tls-key")
ap.add_argument("--auth")
ap.add_argument("--auth-mechanism", action="append", default=[],
                help="offer only these (PLAIN, LOGIN); default: both")
args = ap.parse_args()
os.makedirs(args.dir, exist_ok=True)


class Sink:
    def __init__(self):
        self.n = len([f for f in os.listdir(args.dir) if f.startswith("msg-")])

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if not args.discard:
            with open(os.path.join(args.dir, "connections"), "a") as f:
                f.write(hostname + "\n")
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        return "250 {}".format(server.hostname)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in args.refuse:
            return "550 5.1.1 <{}>: recipient refused".format(address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        n = self.n
        if not args.discard:
            data = envelope.original_content or envelope.content
            path = os.path.join(args.dir, "msg-%06d.eml" % n)
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.rename(path + ".tmp", path)
            head = data.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
            mid = re.search(r"^Message-ID: (.*)$", head, re.M | re.I)
            sid = re.search(r"^X-Personalize-Send-Id: (.*)$", head, re.M | re.I)
            with open(os.path.join(args.dir, "log.jsonl"), "a") as f:
                f.write(json.dumps({"n": n, "mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                                    "message_id": mid.group(1).strip() if mid else None,
                                    "send_id": sid.group(1).strip() if sid else None,
                                    "file": os.path.basename(path), "t": time.time(),
                                    "tls": session.ssl is not None,
                                    "auth": session.auth_data.login.decode() if session.authenticated else None})
                        + "\n")
        return "250 OK queued as {}".format(n)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def authenticator(server, session, envelope, mechanism, auth_data):
    """Accepts the one login of --auth; logs each attempt (mechanism, login, outcome, TLS)."""
    user, password = args.auth.split(":", 1)
    login = auth_data.login.decode("utf-8", "replace")
    ok = login == user and auth_data.password.decode("utf-8", "replace") == password
    with open(os.path.join(args.dir, "auth"), "a") as f:
        f.write("%s %s %s %s\n" % (mechanism, login, "ok" if ok else "refused",
                                    "tls" if session.ssl else "plain"))
    # handled=False: aiosmtpd answers a refusal with 535 itself. (Its default, handled=True,
    # means "the authenticator has replied", and a refused client then waits for an answer that
    # never comes: the 30 s hang the earlier AUTH test met.)
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


tls = None
if args.tls_cert:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.tls_cert, args.tls_key)
options = {}
if tls:
    options.update(tls_context=tls)
if args.auth:
    options.update(authenticator=authenticator, auth_required=True, auth_require_tls=tls is not None,
                   auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN") if args.auth_mechanism
                                           and m not in args.auth_mechanism])
port = args.port or free_port()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
controller = Controller(Sink(), hostname="127.0.0.1", port=port, decode_data=False,
                        data_size_limit=None, ready_timeout=60, **options)
controller.start()
with open(os.path.join(args.dir, "port.tmp"), "w") as f:
    f.write(str(port))
os.rename(os.path.join(args.dir, "port.tmp"), os.path.join(args.dir, "port"))
signal.sigwait([signal.SIGTERM, signal.SIGINT])
controller.stop()
sys.exit(0)
