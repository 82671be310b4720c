"""Nothing outside the public root is ever served, however the path is spelled."""

import subprocess

import pytest

from support import RawHTTP, assert_json_error, request

PASSWD_MARK = b"root:x:0:0"

# exact statuses: `..` in any spelling, encoded separators, NUL, backslash → 400
BAD_REQUEST = [
    "/../secret.txt",
    "/..",
    "/sub/..",
    "/sub/../../secret.txt",
    "/sub/../index.html",                 # even when it would stay inside
    "/../../../../../../etc/passwd",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/.%2e/secret.txt",
    "/%2e./secret.txt",
    "/sub/%2e%2e/%2e%2e/secret.txt",
    "/%2e%2e%2fsecret.txt",
    "/..%2fsecret.txt",
    "/..%2Fsecret.txt",
    "/sub%2f..%2f..%2fsecret.txt",
    "/%2fetc%2fpasswd",
    "/..\\secret.txt",
    "/sub\\..\\..\\secret.txt",
    "/%5c..%5csecret.txt",
    "/index.html%00.txt",
    "/%00",
    "/%zz",                               # malformed percent-encoding
    "/%2",
]

# exact statuses: dotfiles, symlinks leaving the root → 404
NOT_FOUND = [
    "/.secret",
    "/%2esecret",
    "/.git/config",
    "/.git/",
    "/sub/.hidden",
    "/.",
    "/link-out.txt",
    "/link-rel.txt",
    "/link-passwd",
    "/link-dir/x.txt",
    "/link-dir/",
    "/%252e%252e/secret.txt",             # double-encoded: a file literally named %2e%2e
    "/secret.txt",                        # it lives next to the root, not in it
    "/outside/x.txt",
]

# no exact status required, but never the secret: 400 or 404
EITHER = [
    "//etc/passwd",
    "///../secret.txt",
    "/./secret.txt",
    "/sub/./../../secret.txt",
    "/%c0%ae%c0%ae/secret.txt",           # overlong UTF-8 dots
    "/..;/secret.txt",
    "/....//secret.txt",
]


def fetch(port, target):
    with RawHTTP(port) as c:
        c.send(request("GET", target))
        return c.read_response()


def assert_no_leak(site, r):
    assert site.secret_token.encode() not in r.body
    assert PASSWD_MARK not in r.body


@pytest.mark.parametrize("target", BAD_REQUEST)
def test_traversal_is_400(server, site, target):
    r = fetch(server.port, target)
    assert_no_leak(site, r)
    assert_json_error(r, 400)


@pytest.mark.parametrize("target", NOT_FOUND)
def test_hidden_or_outside_is_404(server, site, target):
    r = fetch(server.port, target)
    assert_no_leak(site, r)
    assert_json_error(r, 404)


@pytest.mark.parametrize("target", EITHER)
def test_odd_paths_never_leak(server, site, target):
    r = fetch(server.port, target)
    assert_no_leak(site, r)
    assert r.status in (400, 404), (target, r.status)


@pytest.mark.parametrize("target", ["/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt",
                                    "/../../../../etc/passwd"])
def test_curl_path_as_is(server, site, target):
    p = subprocess.run(["curl", "-sS", "--path-as-is", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}",
                        server.url + target], capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr
    body, _, code = p.stdout.rpartition(b"\n")
    assert code == b"400", (target, code)
    assert site.secret_token.encode() not in body and PASSWD_MARK not in body


def test_head_of_traversal_is_refused_too(server):
    with RawHTTP(server.port) as c:
        c.send(request("HEAD", "/../secret.txt"))
        assert c.read_response("HEAD").status == 400


def test_traversal_in_absolute_form(server, site):
    with RawHTTP(server.port) as c:
        c.send(b"GET http://e2e/../secret.txt HTTP/1.1\r\nHost: e2e\r\n\r\n")
        r = c.read_response()
        assert_no_leak(site, r)
        assert r.status == 400


def test_refused_path_keeps_the_connection(server, site):
    # The request was well framed: a 400 about its path must not end the connection.
    with RawHTTP(server.port) as c:
        c.send(request("GET", "/../secret.txt") + request("GET", "/small.txt"))
        r = c.read_response()
        assert r.status == 400
        r = c.read_response()
        assert r.status == 200 and r.body == site.files["small.txt"]
