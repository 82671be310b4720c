"""One binary, anywhere: `herald serve` without --public serves the dashboard (everything that
was in public/ at build time) from files embedded in the binary, from any working directory,
with the same HTTP behaviour as files on disk; `--public DIR` still serves DIR instead.

The binary is copied to a fresh directory and started with cwd=/ (or an empty directory), so
nothing of the repository can be reached through the file system. The expected files and their
bytes come from the repository's public/ (the build embedded exactly those)."""

from __future__ import annotations

import email.utils
import gzip
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, Herald, herald_bin
from support import RawHTTP, assert_common_headers, assert_json_error, http_once, request

PUBLIC = ROOT / "public"
PASSWD_MARK = b"root:x:0:0"

# The dashboard's own types (MIMETypes.swift); anything else must at least be named.
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
COMPRESSIBLE = {".html", ".js", ".css", ".json", ".svg", ".txt"}
MIN_GZIP_BYTES = 256


def public_files() -> dict[str, bytes]:
    """public/ as the build plugin lists it: regular files, no dotfiles, no symlinks."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(PUBLIC):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            path = Path(dirpath) / name
            if name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            found[path.relative_to(PUBLIC).as_posix()] = path.read_bytes()
    return found


FILES = public_files()


def start_anywhere(binary: Path, cwd: str, *args: str, name: str) -> Herald:
    """`binary serve …` started with `cwd` as its working directory (the conftest's Herald
    starts in ours: chdir only around the fork, the child keeps it)."""
    h = Herald(["serve", *args], name=name)
    h.args[0] = str(binary)
    here = os.getcwd()
    os.chdir(cwd)
    try:
        return h.start()
    except BaseException:
        h.kill()
        raise
    finally:
        os.chdir(here)


@pytest.fixture(scope="module")
def lonely_binary(tmp_path_factory) -> Path:
    """The built binary, alone in a fresh directory: no public/ next to it or below its cwd."""
    d = tmp_path_factory.mktemp("bin")
    dest = d / "herald"
    shutil.copy2(herald_bin(), dest)
    return dest


@pytest.fixture(scope="module")
def anywhere(lonely_binary):
    h = start_anywhere(lonely_binary, "/", "--host", "127.0.0.1", "--port", "0", "--data", ":memory:",
                       name="herald from /")
    yield h
    assert h.stop() == 0, h.log_tail()


def get(port: int, target: str, *headers: tuple[str, str], method: str = "GET"):
    return http_once(port, method, target, list(headers))


def media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


# --------------------------------------------------------------------------- the files


def test_the_repository_has_the_dashboard():
    for must in ("index.html", "app.js", "style.css", "herald.js"):
        assert must in FILES, f"public/{must} missing from the repository"


@pytest.mark.parametrize("path", sorted(FILES))
def test_every_public_file_is_served_byte_for_byte(anywhere, path):
    data = FILES[path]
    r = get(anywhere.port, "/" + path)
    assert r.status == 200, (path, r.status, r.body[:200])
    assert_common_headers(r)
    assert r.body == data, f"/{path}: {len(r.body)} bytes served, {len(data)} in public/"
    assert int(r.header("content-length")) == len(data)
    assert r.header("content-encoding") is None
    ext = os.path.splitext(path)[1].lower()
    assert r.header("content-type"), path
    if ext in TYPES:
        assert r.header("content-type") == TYPES[ext], (path, r.header("content-type"))
    assert r.header("x-content-type-options") == "nosniff"
    assert r.header("cache-control") == "no-cache"
    etag = r.header("etag")
    assert etag and re.fullmatch(r'"[0-9a-f]{32}"', etag), etag
    modified = email.utils.parsedate_to_datetime(r.header("last-modified")).timestamp()
    assert modified <= time.time() + 1
    if ext == ".js":
        assert r.header("access-control-allow-origin") == "*", path
    else:
        assert r.header("access-control-allow-origin") is None, path


def test_root_is_index_html(anywhere):
    r = get(anywhere.port, "/")
    assert r.status == 200
    assert r.body == FILES["index.html"]
    assert media_type(r.header("content-type")) == "text/html"
    assert get(anywhere.port, "/?from=anywhere").body == FILES["index.html"]
    head = get(anywhere.port, "/", method="HEAD")
    assert head.status == 200 and head.body == b""
    assert int(head.header("content-length")) == len(FILES["index.html"])
    assert head.header("etag") == r.header("etag")


def test_herald_js_is_an_importable_module_when_present(anywhere):
    if "herald.js" not in FILES:
        # Not yet in public/ at this build: then it must not be served either.
        assert_json_error(get(anywhere.port, "/herald.js"), 404)
        return
    r = get(anywhere.port, "/herald.js", ("Origin", "https://app.example"))
    assert r.status == 200
    assert r.body == FILES["herald.js"]
    assert media_type(r.header("content-type")) == "text/javascript"
    assert r.header("access-control-allow-origin") == "*"
    assert r.header("access-control-allow-credentials") is None


def test_javascript_carries_cors_for_other_origins_but_the_api_does_not(anywhere):
    for path in ("/app.js", "/herald.js"):
        r = get(anywhere.port, path, ("Origin", "https://app.example"))
        assert r.header("access-control-allow-origin") == "*", path
    # /api has its own CORS (--allow-origin, off here): no header for another origin.
    api = get(anywhere.port, "/api/tasks", ("Origin", "https://app.example"))
    assert api.status == 200
    assert api.header("access-control-allow-origin") is None


@pytest.mark.parametrize("path", sorted(p for p in FILES if os.path.splitext(p)[1].lower() in COMPRESSIBLE
                                        and len(FILES[p]) >= MIN_GZIP_BYTES))
def test_compressible_files_come_gzipped(anywhere, path):
    r = get(anywhere.port, "/" + path, ("Accept-Encoding", "gzip, deflate, br"))
    assert r.status == 200
    assert r.header("content-encoding") == "gzip", path
    assert r.header("vary") == "Accept-Encoding"
    assert len(r.body) < len(FILES[path])
    assert gzip.decompress(r.body) == FILES[path]
    plain = get(anywhere.port, "/" + path)
    assert r.header("etag") == plain.header("etag")[:-1] + '-gz"'   # its own validator
    # The same bytes every time (compressed at build time, not per request).
    assert get(anywhere.port, "/" + path, ("Accept-Encoding", "gzip")).body == r.body


def test_etag_and_last_modified_revalidate_to_304(anywhere):
    for encoding in ("gzip", "identity"):
        first = get(anywhere.port, "/app.js", ("Accept-Encoding", encoding))
        etag = first.header("etag")
        for method in ("GET", "HEAD"):
            r = get(anywhere.port, "/app.js", ("Accept-Encoding", encoding), ("If-None-Match", etag), method=method)
            assert r.status == 304, (encoding, method)
            assert r.body == b""
            assert r.header("etag") == etag
            assert r.header("access-control-allow-origin") == "*"
    other = get(anywhere.port, "/app.js", ("If-None-Match", '"0123456789abcdef0123456789abcdef"'))
    assert other.status == 200 and other.body == FILES["app.js"]
    since = get(anywhere.port, "/style.css").header("last-modified")
    assert get(anywhere.port, "/style.css", ("If-Modified-Since", since)).status == 304


def test_the_same_bytes_keep_their_etag_across_processes(lonely_binary, anywhere, tmp_path):
    """ETags are content digests: another process (a worker, a restart) gives the same ones."""
    h = start_anywhere(lonely_binary, str(tmp_path), "--host", "127.0.0.1", "--port", "0", "--data", ":memory:",
                       name="second herald")
    try:
        for path in ("/", "/app.js", "/herald.js", "/style.css"):
            assert get(h.port, path).header("etag") == get(anywhere.port, path).header("etag"), path
    finally:
        assert h.stop() == 0, h.log_tail()


def test_allow_origin_keeps_vary_accept_encoding(lonely_binary):
    """--allow-origin (the API's CORS) adds Origin to Vary; a static file still varies on
    Accept-Encoding, and JavaScript stays importable from origins it does not list."""
    h = start_anywhere(lonely_binary, "/", "--host", "127.0.0.1", "--port", "0", "--data", ":memory:",
                       "--allow-origin", "https://ops.example", name="herald --allow-origin")
    try:
        for origin, allow in (("https://ops.example", "https://ops.example"), ("https://other.example", "*")):
            r = get(h.port, "/app.js", ("Origin", origin), ("Accept-Encoding", "gzip"))
            assert r.header("content-encoding") == "gzip"
            assert [v.strip().lower() for v in r.header("vary").split(",")] == ["accept-encoding", "origin"]
            assert r.header("access-control-allow-origin") == allow
    finally:
        assert h.stop() == 0, h.log_tail()


# --------------------------------------------------------------------------- what is not there


@pytest.mark.parametrize("target", ["/nope.js", "/js/nope.js", "/app.js/", "/index.htm", "/js/", "/public/app.js",
                                    "/.git/config", "/.env", "/etc/passwd", "/herald-data/"])
def test_missing_is_404(anywhere, target):
    r = get(anywhere.port, target)
    assert_json_error(r, 404)
    assert PASSWD_MARK not in r.body


def test_directory_without_slash_redirects(anywhere):
    r = get(anywhere.port, "/js?x=1")
    assert r.status == 301
    assert r.header("location") == "/js/?x=1"


@pytest.mark.parametrize("target", ["/../etc/passwd", "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                                    "/js/../../etc/passwd", "/js/%2e%2e/%2e%2e/etc/passwd", "/..%2fetc%2fpasswd",
                                    "/..\\..\\etc\\passwd", "/app.js%00.txt"])
def test_traversal_is_refused(anywhere, target):
    with RawHTTP(anywhere.port) as c:
        c.send(request("GET", target))
        r = c.read_response()
    assert_json_error(r, 400)
    assert PASSWD_MARK not in r.body


def test_traversal_with_curl_path_as_is(anywhere):
    p = subprocess.run(["curl", "-sS", "--path-as-is", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}",
                        anywhere.url + "/../../../../etc/passwd"], capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr
    body, _, code = p.stdout.rpartition(b"\n")
    assert code == b"400" and PASSWD_MARK not in body


def test_other_methods_are_not_allowed(anywhere):
    r = get(anywhere.port, "/app.js", method="DELETE")
    assert_json_error(r, 405)
    assert r.header("allow") == "GET, HEAD"


# --------------------------------------------------------------------------- other ways to start


def test_defaults_only_from_an_empty_directory(lonely_binary, tmp_path):
    """`herald serve` with nothing but a free port, in an empty directory: it starts, serves the
    dashboard, and its data lands in ./herald-data of that directory."""
    h = start_anywhere(lonely_binary, str(tmp_path), "--port", "0", name="herald with defaults")
    try:
        assert get(h.port, "/").body == FILES["index.html"]
        assert get(h.port, "/herald.js").body == FILES["herald.js"]
    finally:
        assert h.stop() == 0, h.log_tail()
    assert (tmp_path / "herald-data").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["herald-data"]


def test_workers_serve_the_embedded_dashboard_too(lonely_binary):
    """--workers re-executes the binary for each worker; without --public they embed too (with
    --data :memory: the broker's socket goes to a private temporary directory)."""
    sup = start_anywhere(lonely_binary, "/", "--workers", "2", "--host", "127.0.0.1", "--port", "0",
                         "--data", ":memory:", name="supervisor")
    try:
        for _ in range(6):   # fresh connections: the kernel spreads them over both workers
            r = get(sup.port, "/app.js")
            assert r.status == 200 and r.body == FILES["app.js"]
            assert r.header("access-control-allow-origin") == "*"
    finally:
        assert sup.stop() == 0, sup.log_tail()


def test_public_dir_overrides_the_embedded_files(lonely_binary, tmp_path):
    site = tmp_path / "site"
    (site / "js").mkdir(parents=True)
    (site / "index.html").write_bytes(b"<!doctype html><title>mine</title><p>my own page</p>\n")
    (site / "app.js").write_bytes(b"console.log('mine');\n" * 40)
    h = start_anywhere(lonely_binary, "/", "--host", "127.0.0.1", "--port", "0", "--data", ":memory:",
                       "--public", str(site), name="herald --public")
    try:
        root = get(h.port, "/")
        assert root.status == 200 and root.body == (site / "index.html").read_bytes()
        app = get(h.port, "/app.js", ("Accept-Encoding", "gzip"))
        assert app.header("content-encoding") == "gzip"
        assert gzip.decompress(app.body) == (site / "app.js").read_bytes()
        assert app.header("access-control-allow-origin") == "*"
        # Nothing falls back to the embedded files.
        assert_json_error(get(h.port, "/herald.js"), 404)
        assert_json_error(get(h.port, "/style.css"), 404)
        # Files on disk are read at request time: an edit shows at once.
        (site / "index.html").write_bytes(b"<p>edited</p>\n")
        assert get(h.port, "/").body == b"<p>edited</p>\n"
    finally:
        assert h.stop() == 0, h.log_tail()


def test_a_public_dir_that_does_not_exist_is_refused(lonely_binary, tmp_path):
    h = Herald(["serve", "--port", "0", "--data", ":memory:", "--public", str(tmp_path / "missing")], name="bad --public")
    h.args[0] = str(lonely_binary)
    h.start(wait=False)
    rc = h.wait_exit(10)
    assert rc not in (0, None), h.log_tail()
    assert any("cannot read --public" in line for line in h.stderr_lines), h.log_tail()


def test_help_says_what_the_default_is(lonely_binary):
    p = subprocess.run([str(lonely_binary), "serve", "--help"], capture_output=True, timeout=20, cwd="/")
    text = " ".join((p.stdout + p.stderr).decode().split())
    assert p.returncode == 0
    assert "--public <dir>" in text
    assert "built into the binary" in text
