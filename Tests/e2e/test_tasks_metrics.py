"""/metrics in the Prometheus text format with the documented names; /healthz."""

from __future__ import annotations

import re

from tasks_support import STATUSES, WS, Api, api, tasks_server  # noqa: F401

LINE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})?'
                     r' (-?(?:\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|NaN|\+Inf|-Inf))( -?\d+)?$')
NAMES = {"herald_connections": "gauge", "herald_subscribers": "gauge",
         "herald_events_published_total": "counter", "herald_events_delivered_total": "counter",
         "herald_tasks": "gauge"}


def scrape(api: Api) -> tuple[dict, dict]:
    a = api.get("/metrics")
    assert a.status == 200, a
    ctype = a.header("Content-Type") or ""
    assert ctype.split(";")[0].strip() == "text/plain", ctype
    assert "version=0.0.4" in ctype.replace(" ", ""), ctype
    text = a.body.decode()
    assert text.endswith("\n")
    samples, types = {}, {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types, f"two TYPE lines for {name}"
            types[name] = typ
            continue
        if line.startswith("#"):
            assert line.startswith("# HELP "), line
            continue
        m = LINE_RE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        key = m.group(1) + (m.group(2) or "")
        assert key not in samples, f"duplicate sample {key}"
        samples[key] = float(m.group(3))
    return samples, types


def test_metrics_names_types_and_values(tasks_server, api: Api):
    samples, types = scrape(api)
    for name, typ in NAMES.items():
        assert types.get(name) == typ, f"{name}: TYPE {types.get(name)!r}, expected {typ}"
    for name in ("herald_connections", "herald_subscribers", "herald_events_published_total",
                 "herald_events_delivered_total"):
        assert name in samples, f"no sample {name}"
    published0 = samples["herald_events_published_total"]
    delivered0 = samples["herald_events_delivered_total"]
    with WS(tasks_server.port, "topic=tasks") as ws, WS(tasks_server.port, "topic=tasks") as ws2:
        ws.snapshot()
        ws2.snapshot()
        s1, _ = scrape(api)
        assert s1["herald_subscribers"] >= 2 and s1["herald_connections"] >= 2, s1
        t = api.move_to("running")
        ws.until(lambda m: m["type"] == "task" and m["seq"] == t["seq"])
        ws2.until(lambda m: m["type"] == "task" and m["seq"] == t["seq"])
        s2, _ = scrape(api)
        assert s2["herald_events_published_total"] >= published0 + 2
        assert s2["herald_events_delivered_total"] >= delivered0 + 4
        # tasks by status agree with the list
        listed = api.task_list("limit=10000")["tasks"]
        for st in STATUSES:
            n = sum(1 for x in listed if x["status"] == st)
            assert s2.get(f'herald_tasks{{status="{st}"}}', 0.0) == n, (st, n, s2)
    s3, _ = scrape(api)
    assert s3["herald_subscribers"] <= s2["herald_subscribers"] - 2 or s3["herald_subscribers"] == 0, (s2, s3)


def test_healthz(api: Api):
    a = api.get("/healthz")
    assert a.status == 200
    assert (a.header("Content-Type") or "").split(";")[0] == "application/json"
    assert a.json["status"] == "ok"
