#!/usr/bin/env python3
"""Reference implementation of personalize.fingerprint(jsonb), written from the documented
algorithm in src/hash.c (not from the C code): SHA-256 over tagged tokens, keys in jsonb order
(shorter first, then bytewise), numbers in normalized decimal form; first 8 bytes, big-endian,
signed. Usage: fingerprint.py 'JSON' ... prints one bigint per argument."""
import hashlib, json, struct, sys
from decimal import Decimal

def tok(tag, payload=None):
    if payload is None:
        return tag.encode()
    return tag.encode() + struct.pack(">I", len(payload)) + payload

def number_text(d):
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s

def encode(v):
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: (len(k.encode()), k.encode()))
        return tok("{") + b"".join(tok("k", k.encode()) + encode(v[k]) for k in keys) + tok("}")
    if isinstance(v, list):
        return tok("[") + b"".join(encode(x) for x in v) + tok("]")
    if isinstance(v, bool):
        return tok("t" if v else "f")
    if v is None:
        return tok("z")
    if isinstance(v, Decimal):
        return tok("n", number_text(v).encode())
    return tok("s", v.encode())

for arg in sys.argv[1:]:
    value = json.loads(arg, parse_float=Decimal, parse_int=Decimal)
    digest = hashlib.sha256(encode(value)).digest()
    print(struct.unpack(">q", digest[:8])[0])
