#!/usr/bin/env python3
"""A Hyperloom client written from Docs/protocol.md alone, with pyzmq.

Submits N jobs that each print a metric line, prints every update as it arrives, acknowledges
it, and exits when every job has a terminal result (exit status 1 if any failed).

    python3 pyclient.py --broker tcp://127.0.0.1:5555 --jobs 5
"""
import argparse, json, struct, sys, time, uuid
import zmq

HLC1 = b"HLC1"

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--broker", default="tcp://127.0.0.1:5555")
p.add_argument("--jobs", type=int, default=5)
p.add_argument("--timeout", type=float, default=60)
a = p.parse_args()

ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.connect(a.broker)
client = "py-" + uuid.uuid4().hex[:8]
s.send_multipart([HLC1, b"\x21", json.dumps({"client": client, "name": "pyclient"}).encode()])
if not s.poll(5000):
    sys.exit("no WELCOME from " + a.broker)
welcome = s.recv_multipart()
assert welcome[1] == b"\x11", welcome
heartbeat = json.loads(welcome[2])["heartbeat_ms"] / 1000

frames = [HLC1, b"\x22", struct.pack(">Q", 1)]
for n in range(1, a.jobs + 1):
    spec = {"command": ["/bin/sh", "-c", "echo \"@hyperloom {\\\"n\\\": {n}, \\\"loss\\\": $(( {n} * 7 % 10 ))}\""],
            "config": {"n": n}}
    frames += [f"{client}/{n}".encode(), struct.pack(">5I", 1000, 0, 3, 1, 0), json.dumps(spec).encode()]
s.send_multipart(frames)

results, seen, last_sent = {}, set(), time.monotonic()
deadline = time.monotonic() + a.timeout
while len(results) < a.jobs and time.monotonic() < deadline:
    if time.monotonic() - last_sent >= heartbeat:
        s.send_multipart([HLC1, b"\x02"])
        last_sent = time.monotonic()
    if not s.poll(100):
        continue
    f = s.recv_multipart()
    cmd = f[1][0]
    if cmd == 0x26:
        print("submitted", struct.unpack(">I", f[3])[0], "jobs")
    elif cmd == 0x03:                                               # STARTED [flags: bit 0 = backup copy]
        backup = len(f) > 6 and f[6][0] & 1
        print(f[2].decode(), "attempt", struct.unpack(">I", f[3])[0], "started on", f[5].decode(),
              "(backup copy)" if backup else "")
    elif cmd == 0x2A:                                               # ENDED: no result from this attempt
        print(f[2].decode(), "attempt", struct.unpack(">I", f[3])[0], "ended:", f[5].decode(), f[6].decode())
    elif cmd in (0x04, 0x05, 0x06, 0x07):
        job, lease, seq = f[2].decode(), f[4], f[5]
        key = (job, lease, seq)
        if key not in seen:                                        # de-duplicate resends
            seen.add(key)
            kind = {0x04: "report", 0x05: "checkpoint", 0x06: "final", 0x07: "failed"}[cmd]
            print(job, kind, f[6].decode())
            if cmd in (0x06, 0x07):
                results[job] = kind
        s.send_multipart([HLC1, b"\x13", f[2], lease, seq])          # ACK
        last_sent = time.monotonic()
    elif cmd == 0x1F:
        print("broker error:", f[2].decode())
    elif cmd == 0x0F:                                               # reregister
        s.send_multipart([HLC1, b"\x21", json.dumps({"client": client, "name": "pyclient"}).encode()])

s.send_multipart([HLC1, b"\x0f"])
print(f"{sum(1 for r in results.values() if r == 'final')} of {a.jobs} jobs finished")
sys.exit(0 if len(results) == a.jobs and all(r == "final" for r in results.values()) else 1)
