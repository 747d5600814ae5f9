#!/usr/bin/python3
"""The sender's message builder against Python's email package (a MIME implementation that is
not ours): random messages (non-ASCII subjects and display names, long and odd lines, '=' and
'.' at line starts, emoji, CJK) go through sender/message_check; each result is parsed back and
must give the inputs again, and its raw form must keep RFC 5322/2045/2047's limits.
usage: message_roundtrip.py MESSAGE_CHECK_BINARY; prints one "ok:"/"FAILED:" line per family."""
import email
import email.policy
import email.utils
import json
import random
import re
import subprocess
import sys

binary = sys.argv[1]
rng = random.Random(20261202)
ALPHABETS = ["abcdefghijklmnopqrstuvwxyz", "ABCXYZ0123456789", "äöüßÄÖÜéèçñø", "ЖИзнь", "李雷韩梅梅",
             "🎉🙂", " ", " ", " ", "=.-_?!\"'<>@,;:()[]\\", "\t"]


def word(maxlen):
    alpha = "".join(rng.sample(ALPHABETS, 3))
    return "".join(rng.choice(alpha) for _ in range(rng.randint(1, maxlen)))


def text_line():
    kind = rng.random()
    if kind < 0.1:
        return "." + word(30)
    if kind < 0.2:
        return "x" * rng.randint(70, 300)
    if kind < 0.3:
        return word(20) + " "
    return " ".join(word(12) for _ in range(rng.randint(0, 12)))


def subject():
    s = " ".join(word(15).replace("\t", " ") for _ in range(rng.randint(1, 12)))
    return s


def case(i):
    name = rng.choice(["", "Ann", "Zoë Müller", "O'Neil, Ann", "李雷", "Team \"Q\"", "a.b"])
    text = "\n".join(text_line() for _ in range(rng.randint(0, 12)))
    html = "<p>" + "</p>\n<p>".join(text_line() for _ in range(rng.randint(1, 6))) + "</p>"
    if i % 7 == 0:
        text = "Жизнь прекрасна и удивительна " * rng.randint(1, 20)   # mostly non-ASCII: base64
    if i % 11 == 0:
        text = text.replace("\n", "\r\n")
    hdrs = {"X-Personalize-Send-Id": str(i), "X-Personalize-Campaign": rng.choice(["spring", "frühling 2026", "x" * 90])}
    return {"from": ("%s <shop@example.com>" % name) if name else "shop@example.com", "to": "u%d@example.com" % i,
            "subject": subject(), "text": text, "html": html, "message_id": "<%d.abcdef@mail.example>" % i,
            "headers_json": json.dumps(hdrs), "date": str(1700000000 + i * 3600), "_name": name, "_headers": hdrs}


cases = [case(i) for i in range(1, 501)]
# header injection: CR/LF in a subject and a header value become spaces
cases.append({"from": "shop@example.com", "to": "u0@example.com", "subject": "hi\r\nBcc: victim@example.com",
              "text": "t", "html": "h", "message_id": "<0.x@mail.example>",
              "headers_json": json.dumps({"X-Personalize-Campaign": "c\nBcc: other@example.com"}),
              "date": "0", "_name": "", "_headers": {"X-Personalize-Campaign": "c Bcc: other@example.com"},
              "_subject": "hi  Bcc: victim@example.com"})
inp = "".join(json.dumps({k: v for k, v in c.items() if not k.startswith("_")}) + "\n" for c in cases)
out = subprocess.run([binary], input=inp.encode(), capture_output=True, check=True).stdout
msgs, pos = [], 0
while pos < len(out):
    nl = out.index(b"\n", pos)
    head = out[pos:nl]
    if head.startswith(b"error"):
        msgs.append(None)
        pos = nl + 1
        continue
    n = int(head)
    msgs.append(out[nl + 1:nl + 1 + n])
    pos = nl + 1 + n
fails = {"roundtrip": [], "limits": [], "encoding": [], "injection": []}


def lf(s):
    return s.replace("\r\n", "\n")


for c, raw in zip(cases, msgs):
    sid = c["message_id"]
    if raw is None:
        fails["roundtrip"].append("%s: not built" % sid)
        continue
    m = email.message_from_bytes(raw, policy=email.policy.default)
    want_subject = c.get("_subject", c["subject"])
    if str(m["Subject"]) != want_subject:
        fails["roundtrip"].append("%s: subject %r != %r" % (sid, str(m["Subject"]), want_subject))
    frm = m["From"].addresses
    if len(frm) != 1 or frm[0].addr_spec != "shop@example.com" or frm[0].display_name != c["_name"]:
        fails["roundtrip"].append("%s: From %r" % (sid, str(m["From"])))
    if m["To"].addresses[0].addr_spec != c["to"] or m["Message-ID"] != c["message_id"]:
        fails["roundtrip"].append("%s: To/Message-ID" % sid)
    if email.utils.parsedate_to_datetime(m["Date"]).timestamp() != int(c["date"]):
        fails["roundtrip"].append("%s: Date %r" % (sid, m["Date"]))
    for k, v in c["_headers"].items():
        if str(m[k]) != v:
            (fails["injection"] if "Bcc" in v else fails["roundtrip"]).append("%s: %s %r != %r" % (sid, k, str(m[k]), v))
    if m["Bcc"] is not None or m["Cc"] is not None:
        fails["injection"].append("%s: a Bcc/Cc header appeared" % sid)
    parts = list(m.iter_parts())
    if [p.get_content_type() for p in parts] != ["text/plain", "text/html"]:
        fails["roundtrip"].append("%s: parts" % sid)
        continue
    if lf(parts[0].get_content()) != lf(c["text"]) or lf(parts[1].get_content()) != c["html"]:
        fails["roundtrip"].append("%s: bodies differ: %r" % (sid, parts[0].get_content()[:100]))
    canon = lf(c["text"]).replace("\n", "\r\n").encode()
    escaped = sum(1 for b in canon if b == 61 or b >= 127 or (b < 32 and b not in (9, 10, 13)))
    want_cte = "base64" if escaped * 6 > len(canon) else "quoted-printable"
    if parts[0]["Content-Transfer-Encoding"] != want_cte:
        fails["encoding"].append("%s: %s where %s is shorter" % (sid, parts[0]["Content-Transfer-Encoding"], want_cte))
    if any(b > 127 for b in raw) or re.search(rb"(?<!\r)\n|\r(?!\n)", raw):
        fails["limits"].append("%s: non-ASCII byte or bare CR/LF" % sid)
    head, _, body = raw.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        value = line[1:] if line[:1] in (b" ", b"\t") else line.partition(b": ")[2]
        if len(line) > 78 and b" " in value.strip():
            fails["limits"].append("%s: header line of %d: %r" % (sid, len(line), line[:60]))
    for w in re.findall(rb"=\?[^?]*\?[BQ]\?[^?]*\?=", head):
        if len(w) > 75:
            fails["limits"].append("%s: encoded word of %d" % (sid, len(w)))
    for line in body.split(b"\r\n"):
        if len(line) > 76:
            fails["limits"].append("%s: body line of %d" % (sid, len(line)))
        if line.startswith(b"."):
            fails["limits"].append("%s: a body line starts with '.'" % sid)
desc = {"roundtrip": "%d random messages parse back to their inputs (subject, names, headers, bodies, date)" % (len(cases) - 1),
        "limits": "raw form: ASCII, CRLF only, header lines folded within 78, encoded words within 75, body lines within 76, no line starting with '.'",
        "encoding": "each body in the shorter of quoted-printable and base64",
        "injection": "CR/LF in a subject or header value cannot add a header"}
for k, v in fails.items():
    print(("ok: " if not v else "FAILED: ") + desc[k])
    for line in v[:8]:
        print("  " + line)
sys.exit(1 if any(fails.values()) else 0)
