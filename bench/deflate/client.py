"""The client side of bench/deflate/run (stdlib only; see there). Prints a markdown report."""

import argparse
import base64
import http.client
import json
import os
import re
import selectors
import socket
import subprocess
import threading
import time
import zlib

OFFER = "permessage-deflate; client_max_window_bits"


def start(herald, public, *extra):
    p = subprocess.Popen(["taskset", "-c", "0", herald, "serve", "--port", "0", "--data", ":memory:", "--bench",
                          "--log-level", "warning", "--access-log", "off", "--public", public, *extra],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    line = p.stderr.readline().decode()
    port = int(re.search(r"listening on http://[^:]+:(\d+)", line).group(1))
    threading.Thread(target=p.stderr.read, daemon=True).start()
    return p, port


def cpu_s(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    return int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read()).group(1))


def upgrade(port, path, deflate):
    s = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    ext = f"Sec-WebSocket-Extensions: {OFFER}\r\n" if deflate else ""
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    head, rest = head.split(b"\r\n\r\n", 1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    assert (b"permessage-deflate" in head) == deflate, head
    return s, rest


def frames(buf):
    """Complete frames at the start of buf: [(rsv1, payload)], bytes consumed."""
    out, i = [], 0
    while len(buf) - i >= 2:
        b0, b1 = buf[i], buf[i + 1]
        n, h = b1 & 0x7F, 2
        if n == 126:
            if len(buf) - i < 4: break
            n, h = int.from_bytes(buf[i + 2:i + 4], "big"), 4
        elif n == 127:
            if len(buf) - i < 10: break
            n, h = int.from_bytes(buf[i + 2:i + 10], "big"), 10
        if len(buf) - i < h + n: break
        out.append((bool(b0 & 0x40), bytes(buf[i + h:i + h + n])))
        i += h + n
    return out, i


def masked(opcode, payload, rsv1=False):
    key = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | (0x40 if rsv1 else 0) | opcode]) + (bytes([0x80 | n]) if n < 126 else bytes([0xFE]) + n.to_bytes(2, "big"))
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def real_task_event(port):
    """A progress event of a task with a title and meta, as /ws pushes it (~600 bytes)."""
    def post(path, body):
        c = http.client.HTTPConnection("127.0.0.1", port)
        c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse(); r.read(); c.close()
        assert r.status in (200, 201), (path, r.status)
    post("/api/tasks", {"id": "export-2026-12-04-eu-west-1", "title": "Nightly export of the customer ledger to the warehouse",
                        "total": 64, "meta": {"dataset": "customer-ledger", "region": "eu-west-1", "requested_by": "ops@example.com",
                                              "format": "parquet", "destination": "s3://warehouse/exports/ledger/2026-12-04/"}})
    post("/api/tasks/export-2026-12-04-eu-west-1/start", {})
    s, buf = upgrade(port, "/ws?topic=task:export-2026-12-04-eu-west-1", False)
    buf = bytearray(buf)
    post("/api/tasks/export-2026-12-04-eu-west-1/progress", {"done": 42, "message": "copied batch 42 of 64 (1,234,567 rows)"})
    while True:
        got, used = frames(buf)
        if len(got) >= 2:
            s.close()
            return json.loads(got[1][1])
        buf += s.recv(65536)


def fanout(args, event, deflate):
    p, port = start(args.herald, args.public)
    socks = [upgrade(port, "/sub/s1a", deflate)[0] for _ in range(args.subscribers)]
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    bufs = {s: bytearray() for s in socks}
    stats = {"frames": 0, "compressed": 0, "bytes": 0}
    stop = threading.Event()

    def reader():
        deadline = None
        while True:
            if stop.is_set():
                if stats["frames"] >= published * args.subscribers:
                    break
                deadline = deadline or time.monotonic() + 10
                if time.monotonic() > deadline:
                    break
            for key, _ in sel.select(0.2):
                data = key.fileobj.recv(1 << 20)
                stats["bytes"] += len(data)
                b = bufs[key.fileobj]
                b += data
                got, used = frames(b)
                del b[:used]
                stats["frames"] += len(got)
                stats["compressed"] += sum(1 for r, _ in got if r)
    published = 0
    t = threading.Thread(target=reader)
    t.start()
    time.sleep(1)
    c = http.client.HTTPConnection("127.0.0.1", port)
    c0, t0 = cpu_s(p.pid), time.monotonic()
    interval = 1 / args.rate
    while time.monotonic() - t0 < args.seconds:
        event["seq"] += 1
        event["task"]["seq"] = event["seq"]
        event["task"]["done"] = event["seq"] % 64
        c.request("POST", "/pub/s1a", json.dumps(event, separators=(",", ":")))
        r = c.getresponse(); r.read()
        published += 1
        time.sleep(max(0, t0 + published * interval - time.monotonic()))
    stop.set()
    t.join(60)
    c1 = cpu_s(p.pid)
    p.terminate(); p.wait()
    for s in socks:
        s.close()
    deliveries = published * args.subscribers
    return {"published": published, "deliveries": stats["frames"], "complete": stats["frames"] == deliveries,
            "compressed": stats["compressed"], "us_per_delivery": 1e6 * (c1 - c0) / max(1, stats["frames"]),
            "bytes_per_event": stats["bytes"] / max(1, stats["frames"])}


def idle(args, deflate):
    p, port = start(args.herald, args.public)
    time.sleep(0.5)
    r0 = rss_kib(p.pid)
    socks = []
    for i in range(args.idle):
        s, rest = upgrade(port, f"/ws?topic=task:idle-{i}", deflate)
        socks.append(s)
    time.sleep(3)
    r1 = rss_kib(p.pid)
    # Every connection sends one op (compressed with deflate): nothing of it may stay once answered.
    op = b'{"op":"ping"}'
    if deflate:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        op = (c.compress(op) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    for s in socks:
        s.sendall(masked(0x1, op, rsv1=deflate))
    time.sleep(3)
    r2 = rss_kib(p.pid)
    p.terminate(); p.wait()
    for s in socks:
        s.close()
    per = lambda r: (r - r0) / args.idle
    return {"rss0": r0, "kib": per(r1), "kib_after_message": per(r2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--herald", required=True)
    ap.add_argument("--public", required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=2000)
    args = ap.parse_args()
    p, port = start(args.herald, args.public)
    event = real_task_event(port)
    p.terminate(); p.wait()
    size = len(json.dumps(event, separators=(",", ":")))
    plain, deflated = fanout(args, dict(event), False), fanout(args, json.loads(json.dumps(event)), True)
    idle_plain, idle_deflate = idle(args, False), idle(args, True)
    print(f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores; herald pinned to CPU 0, "
          f"this client to CPU 1.\n")
    print(f"Fan-out: {args.subscribers} subscribers of one /sub topic, a {size}-byte task event published "
          f"{args.rate:g}/s for {args.seconds:g} s.\n")
    print("| frames | published | delivered | compressed | server µs/delivery | bytes on the wire/event |")
    print("|---|---|---|---|---|---|")
    for name, r in (("plain", plain), ("deflate", deflated)):
        print(f"| {name} | {r['published']:,} | {r['deliveries']:,}{'' if r['complete'] else ' (incomplete)'} | "
              f"{r['compressed']:,} | {r['us_per_delivery']:.3f} | {r['bytes_per_event']:.1f} |")
    print(f"\nIdle: {args.idle} /ws subscribers (one task topic each), RSS delta per connection.\n")
    print("| connections | KiB per idle connection | after one message each (compressed with deflate) |")
    print("|---|---|---|")
    print(f"| plain | {idle_plain['kib']:.2f} | {idle_plain['kib_after_message']:.2f} |")
    print(f"| deflate negotiated | {idle_deflate['kib']:.2f} | {idle_deflate['kib_after_message']:.2f} |")


if __name__ == "__main__":
    main()
