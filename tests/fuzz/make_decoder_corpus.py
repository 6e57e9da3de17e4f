#!/usr/bin/env python3
"""Rebuilds tests/fuzz/corpus/decoder from tests/fixtures/pgoutput/mixed.frames.

The fixture holds 4-byte-length frames; decoder_fuzz reads 2-byte-length
chunks. Seeds: the whole stream, then each transaction (and each
non-transactional message) preceded by every Relation and Type message seen
before it, so each seed decodes on a fresh Decoder.
"""
import pathlib

root = pathlib.Path(__file__).resolve().parents[2]
data = (root / "tests/fixtures/pgoutput/mixed.frames").read_bytes()
frames, i = [], 0
while i < len(data):
    n = int.from_bytes(data[i:i + 4], "big")
    frames.append(data[i + 4:i + 4 + n])
    i += 4 + n


def chunks(msgs):
    return b"".join(len(m).to_bytes(2, "big") + m for m in msgs)


out = root / "tests/fuzz/corpus/decoder"
out.mkdir(parents=True, exist_ok=True)
for old in out.glob("seed-*"):
    old.unlink()
(out / "seed-stream").write_bytes(chunks(frames))
catalog, txn, n = [], None, 0
for f in frames:
    kind = chr(f[0])
    if kind == "B":
        txn = [f]
    elif txn is not None:
        txn.append(f)
        if kind == "C":
            n += 1
            (out / f"seed-txn{n:02d}").write_bytes(chunks(catalog + txn))
            catalog += [m for m in txn if chr(m[0]) in "RY"]
            txn = None
    elif kind == "M":
        n += 1
        (out / f"seed-msg{n:02d}").write_bytes(chunks(catalog + [f]))
    else:
        catalog.append(f)
