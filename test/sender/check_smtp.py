#!/usr/bin/python3
"""Checks what the SMTP sink received against what the database says was sent.

usage: check_smtp.py SINK_DIR EXPECTED.jsonl [--provider NAME]
EXPECTED has one JSON object per send that must have arrived exactly once: send_id, to,
from_name, from_addr, subject, text, html (render_email's output for the send), message_id,
campaign (or null), unsubscribe (true when List-Unsubscribe is due), provider,
provider_message_id, status. Every message is parsed with Python's email package (a MIME
parser that is not ours) and compared field by field; the raw bytes are checked for CRLF line
ends, ASCII only, and line lengths. Prints one line per problem and "checked N messages"."""
import email
import email.policy
import email.utils
import json
import os
import re
import sys

sink, expected_file = sys.argv[1], sys.argv[2]
provider = sys.argv[sys.argv.index("--provider") + 1] if "--provider" in sys.argv else None
expected = {}
with open(expected_file) as f:
    for line in f:
        if line.strip():
            e = json.loads(line)
            expected[str(e["send_id"])] = e
log = []
with open(os.path.join(sink, "log.jsonl")) as f:
    log = [json.loads(line) for line in f if line.strip()]
problems = []


def problem(send_id, what):
    problems.append("send %s: %s" % (send_id, what))


def lf(s):
    return s.replace("\r\n", "\n")


seen = {}
for entry in log:
    sid = entry["send_id"]
    if sid not in expected:
        continue
    seen.setdefault(sid, []).append(entry)
for sid, e in expected.items():
    got = seen.get(sid, [])
    if len(got) != 1:
        problem(sid, "arrived %d times, not once" % len(got))
        continue
    entry = got[0]
    raw = open(os.path.join(sink, entry["file"]), "rb").read()
    # the raw form: ASCII, CRLF only, header lines folded
    if any(b > 127 for b in raw):
        problem(sid, "non-ASCII bytes in the message")
    if re.search(rb"(?<!\r)\n|\r(?!\n)", raw):
        problem(sid, "a bare CR or LF")
    head, _, body = raw.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        value = line[1:] if line[:1] in (b" ", b"\t") else line.partition(b": ")[2]
        if len(line) > 78 and b" " in value.strip():
            problem(sid, "header line longer than 78 that could fold: %r" % line[:90])
    for line in body.split(b"\r\n"):
        if len(line) > 76:
            problem(sid, "body line longer than 76: %r" % line[:90])
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if entry["rcpt_tos"] != [e["to"]]:
        problem(sid, "envelope recipients %r, not [%r]" % (entry["rcpt_tos"], e["to"]))
    if entry["mail_from"] != e["from_addr"]:
        problem(sid, "envelope sender %r, not %r" % (entry["mail_from"], e["from_addr"]))
    to = msg["To"].addresses
    if len(to) != 1 or to[0].addr_spec != e["to"]:
        problem(sid, "To %r" % str(msg["To"]))
    frm = msg["From"].addresses
    if len(frm) != 1 or frm[0].addr_spec != e["from_addr"] or frm[0].display_name != (e["from_name"] or ""):
        problem(sid, "From %r is not %r <%s>" % (str(msg["From"]), e["from_name"], e["from_addr"]))
    if str(msg["Subject"]) != e["subject"]:
        problem(sid, "Subject %r is not %r" % (str(msg["Subject"]), e["subject"]))
    if msg["Message-ID"] != e["message_id"]:
        problem(sid, "Message-ID %r is not %r" % (msg["Message-ID"], e["message_id"]))
    if msg["X-Personalize-Send-Id"] != sid:
        problem(sid, "X-Personalize-Send-Id %r" % msg["X-Personalize-Send-Id"])
    if (msg["X-Personalize-Campaign"] and str(msg["X-Personalize-Campaign"])) != e["campaign"]:
        problem(sid, "X-Personalize-Campaign %r is not %r" % (msg["X-Personalize-Campaign"], e["campaign"]))
    if e["unsubscribe"]:
        if not re.fullmatch(r"<https://\S+token=v1\.\d+\.%s\.\d+\.[0-9a-f]{32}>" % sid, str(msg["List-Unsubscribe"] or "")):
            problem(sid, "List-Unsubscribe %r" % msg["List-Unsubscribe"])
        if msg["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click":
            problem(sid, "List-Unsubscribe-Post %r" % msg["List-Unsubscribe-Post"])
    elif msg["List-Unsubscribe"]:
        problem(sid, "a List-Unsubscribe header where none is due")
    try:
        email.utils.parsedate_to_datetime(msg["Date"])
    except Exception:
        problem(sid, "Date %r does not parse" % msg["Date"])
    if msg["MIME-Version"] != "1.0":
        problem(sid, "MIME-Version %r" % msg["MIME-Version"])
    if msg.get_content_type() != "multipart/alternative":
        problem(sid, "content type %s" % msg.get_content_type())
    else:
        parts = list(msg.iter_parts())
        types = [p.get_content_type() for p in parts]
        if types != ["text/plain", "text/html"]:
            problem(sid, "parts %r" % types)
        else:
            if lf(parts[0].get_content()) != e["text"]:
                problem(sid, "text body differs: %r vs %r" % (parts[0].get_content()[:200], e["text"][:200]))
            if lf(parts[1].get_content()) != e["html"]:
                problem(sid, "HTML body differs: %r vs %r" % (parts[1].get_content()[:200], e["html"][:200]))
    if e["status"] != "sent":
        problem(sid, "status %s, not sent" % e["status"])
    if provider and e["provider"] != provider:
        problem(sid, "provider %r, not %r" % (e["provider"], provider))
    if e["provider_message_id"] != "250 OK queued as %d" % entry["n"]:
        problem(sid, "provider_message_id %r, but the sink queued it as %d" % (e["provider_message_id"], entry["n"]))
for p in problems[:30]:
    print(p)
print("checked %d messages, %d problems" % (len(expected), len(problems)))
sys.exit(1 if problems else 0)
