"""`--publish-token` (changes need `Authorization: Bearer`; reads, /ws and files stay open) and
`--allow-origin` (CORS for a dashboard that fails over to another server), with curl, the
`herald task` CLI and raw clients against the real binary."""

from __future__ import annotations

import json
import os
import subprocess

from cluster_support import Cluster
from conftest import herald_bin
from tasks_support import WS, Api, own_server, task_serve_args, unique_id

TOKEN = "s3cret-token"


def curl(*args: str) -> tuple[int, dict[str, str], str]:
    """(status, lower-cased headers, body) of one curl request."""
    raw = subprocess.run(["curl", "-s", "-i", "--max-time", "10", *args], capture_output=True, check=True).stdout
    head, _, body = raw.decode().partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def test_changes_need_the_publish_token_and_reads_stay_open(site):
    with own_server(task_serve_args(site.public, ":memory:", "--publish-token", TOKEN)) as h:
        url = f"http://127.0.0.1:{h.port}/api/tasks"
        tid = unique_id("auth")
        body = json.dumps({"id": tid, "title": "needs a token"})
        status, headers, text = curl("-X", "POST", "-H", "Content-Type: application/json", "-d", body, url)
        assert status == 401 and json.loads(text)["error"]["code"] == "unauthorized"
        assert headers["www-authenticate"] == 'Bearer realm="herald"'
        status, _, _ = curl("-X", "POST", "-H", "Authorization: Bearer wrong", "-H", "Content-Type: application/json", "-d", body, url)
        assert status == 401
        # Refused requests changed nothing.
        assert Api(h.port).task_list()["tasks"] == []
        status, _, text = curl("-X", "POST", "-H", f"Authorization: Bearer {TOKEN}", "-H", "Content-Type: application/json", "-d", body, url)
        assert status == 201, text
        # Reads and subscriptions need no token.
        assert Api(h.port).task(tid)["title"] == "needs a token"
        with WS(h.port, f"topic=task:{tid}") as ws:
            assert ws.snapshot()["tasks"][0]["id"] == tid
        status, _, _ = curl("-X", "DELETE", f"{url}/{tid}")
        assert status == 401
        # The CLI sends it from --token or $HERALD_PUBLISH_TOKEN.
        cli = [str(herald_bin()), "task", "--server", f"http://127.0.0.1:{h.port}"]
        refused = subprocess.run([*cli[:2], "start", "--server", cli[3], tid], capture_output=True, text=True)
        assert refused.returncode == 1 and "unauthorized" in refused.stderr
        started = subprocess.run([*cli[:2], "start", "--server", cli[3], "--token", TOKEN, tid], capture_output=True, text=True)
        assert started.returncode == 0, started.stderr
        env = dict(os.environ, HERALD_PUBLISH_TOKEN=TOKEN)
        progressed = subprocess.run([*cli[:2], "progress", "--server", cli[3], tid, "--done", "3"], capture_output=True, text=True, env=env)
        assert progressed.returncode == 0, progressed.stderr
        assert Api(h.port).task(tid)["done"] == 3


def test_workers_get_the_token_from_the_environment_not_the_command_line(site, tmp_path):
    env_before = os.environ.get("HERALD_PUBLISH_TOKEN")
    os.environ["HERALD_PUBLISH_TOKEN"] = TOKEN
    try:
        cluster = Cluster(str(site.public), str(tmp_path / "data"), 2).start()
    finally:
        if env_before is None:
            del os.environ["HERALD_PUBLISH_TOKEN"]
        else:
            os.environ["HERALD_PUBLISH_TOKEN"] = env_before
    try:
        cluster.wait_for(lambda: len(cluster.worker_pids()) == 2, 20, "2 workers")
        for pid in cluster.worker_pids():
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                assert TOKEN.encode() not in f.read()
        url = f"http://127.0.0.1:{cluster.port}/api/tasks"
        for _ in range(10):  # fresh connections reach both workers: each one enforces it
            status, _, _ = curl("-X", "POST", "-H", "Content-Type: application/json", "-d", '{"title":"x"}', url)
            assert status == 401
        status, _, _ = curl("-X", "POST", "-H", f"Authorization: Bearer {TOKEN}", "-H", "Content-Type: application/json",
                            "-d", '{"title":"x"}', url)
        assert status == 201
    finally:
        assert cluster.stop() == 0


def test_cross_origin_requests_are_allowed_only_for_listed_origins(site):
    dashboard = "http://ops.example.com"
    with own_server(task_serve_args(site.public, ":memory:", "--allow-origin", dashboard)) as h:
        url = f"http://127.0.0.1:{h.port}/api/tasks"
        status, headers, _ = curl("-X", "OPTIONS", "-H", f"Origin: {dashboard}", "-H", "Access-Control-Request-Method: POST",
                                  "-H", "Access-Control-Request-Headers: content-type, authorization", url)
        assert status == 204
        assert headers["access-control-allow-origin"] == dashboard
        assert "POST" in headers["access-control-allow-methods"] and "DELETE" in headers["access-control-allow-methods"]
        assert "Authorization" in headers["access-control-allow-headers"]
        status, headers, _ = curl("-X", "POST", "-H", f"Origin: {dashboard}", "-H", "Content-Type: application/json",
                                  "-d", '{"title":"cross"}', url)
        assert status == 201 and headers["access-control-allow-origin"] == dashboard and headers["vary"] == "Origin"
        status, headers, _ = curl("-H", "Origin: http://evil.example", url)
        assert status == 200 and "access-control-allow-origin" not in headers
    with own_server(task_serve_args(site.public, ":memory:")) as h:
        status, headers, _ = curl("-H", f"Origin: {dashboard}", f"http://127.0.0.1:{h.port}/api/tasks")
        assert status == 200 and "access-control-allow-origin" not in headers
        status, _, _ = curl("-X", "OPTIONS", "-H", f"Origin: {dashboard}", "-H", "Access-Control-Request-Method: POST",
                            f"http://127.0.0.1:{h.port}/api/tasks")
        assert status == 405  # no CORS configured: not a preflight we answer


def test_bad_access_options_are_refused_clearly(site):
    for args, message in ((["--allow-origin", "ops.example.com"], "--allow-origin must be"),
                          (["--publish-token", ""], "--publish-token must not be empty")):
        run = subprocess.run([str(herald_bin()), *task_serve_args(site.public, ":memory:", *args)],
                             capture_output=True, text=True, timeout=20)
        assert run.returncode == 64 and message in run.stderr, run.stderr
