"""Static files and /healthz, as curl sees them."""

import concurrent.futures
import gzip
import subprocess

import pytest

from support import assert_common_headers, assert_json_error, curl, http_once, parse_head, sha256

TYPES = {
    "index.html": "text/html",
    "style.css": "text/css",
    "data.json": "application/json",
    "logo.svg": "image/svg+xml",
    "image.png": "image/png",
    "small.txt": "text/plain",
    "blob.xyzzy": "application/octet-stream",
    "big.bin": "application/octet-stream",
}


def media_type(value):
    return (value or "").split(";")[0].strip().lower()


def test_root_serves_index_html(server, site):
    r = curl(server.url + "/")
    assert r.status == 200
    assert r.body == site.files["index.html"]
    assert media_type(r.header("content-type")) == "text/html"
    assert r.header("cache-control") == "no-cache"
    assert int(r.header("content-length")) == len(site.files["index.html"])


@pytest.mark.parametrize("name,ctype", sorted(TYPES.items()))
def test_content_types(server, site, name, ctype):
    r = curl(server.url + "/" + name)
    assert r.status == 200
    assert media_type(r.header("content-type")) == ctype
    assert r.body == site.files[name]


def test_javascript_content_type(server, site):
    r = curl(server.url + "/app.js")
    assert media_type(r.header("content-type")) in ("text/javascript", "application/javascript")
    assert r.body == site.files["app.js"]


def test_text_types_name_utf8(server):
    for name in ("index.html", "style.css", "small.txt"):
        ctype = curl(server.url + "/" + name).header("content-type").lower().replace(" ", "")
        assert "charset=utf-8" in ctype, f"{name}: {ctype}"


def test_percent_encoded_name(server, site):
    r = curl(server.url + "/space%20name.txt")
    assert r.status == 200 and r.body == site.files["space name.txt"]


def test_query_string_is_ignored_for_static_files(server, site):
    r = curl(server.url + "/small.txt?v=123&x")
    assert r.status == 200 and r.body == site.files["small.txt"]


def test_common_headers_on_every_kind_of_response(server):
    for path, status, method in [("/", 200, "GET"), ("/healthz", 200, "GET"), ("/nope.txt", 404, "GET"),
                                 ("/index.html", 405, "DELETE"), ("/sub", 301, "GET"),
                                 ("/../x", 400, "GET")]:
        r = http_once(server.port, method, path)
        assert r.status == status, (path, r.status)
        assert_common_headers(r)
        assert int(r.header("content-length")) == len(r.body)


def test_etag_and_if_none_match_give_304(server):
    first = curl(server.url + "/style.css")
    etag = first.header("etag")
    assert etag and etag.startswith(('"', 'W/"')) and etag.endswith('"'), etag
    r = curl(server.url + "/style.css", "-H", f"If-None-Match: {etag}")
    assert r.status == 304 and r.body == b""
    assert r.header("etag") == etag
    assert r.header("date") and r.header("server")
    assert curl(server.url + "/style.css", "-H", "If-None-Match: \"nope\"").status == 200
    assert curl(server.url + "/style.css", "-H", f"If-None-Match: \"nope\", {etag}").status == 304
    assert curl(server.url + "/style.css", "-H", "If-None-Match: *").status == 304


def test_etags_differ_between_files(server):
    a = curl(server.url + "/style.css").header("etag")
    b = curl(server.url + "/app.js").header("etag")
    assert a != b


def test_last_modified_and_if_modified_since_give_304(server):
    first = curl(server.url + "/small.txt")
    lm = first.header("last-modified")
    assert lm and lm.endswith(" GMT"), lm
    assert curl(server.url + "/small.txt", "-H", f"If-Modified-Since: {lm}").status == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    r = curl(server.url + "/small.txt", "-H", f"If-Modified-Since: {old}")
    assert r.status == 200 and r.body
    # RFC 9110 §13.1.3: If-None-Match wins over If-Modified-Since.
    r = curl(server.url + "/small.txt", "-H", 'If-None-Match: "other"', "-H", f"If-Modified-Since: {lm}")
    assert r.status == 200


@pytest.mark.parametrize("name", ["index.html", "style.css", "app.js", "data.json", "logo.svg", "notes.txt"])
def test_gzip_for_compressible_files(server, site, name):
    r = curl(server.url + "/" + name, "--compressed")
    assert r.status == 200
    assert r.header("content-encoding") == "gzip"
    assert "accept-encoding" in (r.header("vary") or "").lower()
    assert r.body == site.files[name]
    assert int(r.header("content-length")) < len(site.files[name])


def test_gzip_body_is_a_valid_gzip_stream(server, site):
    # Without --compressed curl hands over the bytes as sent.
    r = curl(server.url + "/index.html", "-H", "Accept-Encoding: gzip")
    assert r.header("content-encoding") == "gzip"
    assert int(r.header("content-length")) == len(r.body)
    assert gzip.decompress(r.body) == site.files["index.html"]


def test_large_text_file_gzip_roundtrip(server, site):
    r = curl(server.url + "/big.txt", "--compressed")
    assert r.header("content-encoding") == "gzip"
    assert sha256(r.body) == sha256(site.files["big.txt"])


@pytest.mark.parametrize("name,header", [
    ("small.txt", "gzip"),                    # below 256 bytes
    ("image.png", "gzip"),                    # not compressible
    ("big.bin", "gzip"),                      # application/octet-stream
    ("index.html", None),                     # no Accept-Encoding
    ("index.html", "identity"),
    ("index.html", "br"),
    ("index.html", "gzip;q=0"),
])
def test_no_gzip_when_not_useful_or_not_accepted(server, site, name, header):
    args = ["-H", f"Accept-Encoding: {header}"] if header else []
    r = curl(server.url + "/" + name, *args)
    assert r.status == 200
    assert r.header("content-encoding") in (None, "identity")
    assert r.body == site.files[name]


def test_head_has_headers_and_no_body(server, site):
    p = subprocess.run(["curl", "-sS", "-I", "--max-time", "10", server.url + "/index.html"],
                       capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr
    r = parse_head(p.stdout.strip())
    assert r.status == 200
    assert int(r.header("content-length")) == len(site.files["index.html"])
    assert media_type(r.header("content-type")) == "text/html"
    assert r.header("etag") and r.header("last-modified")


def test_other_methods_get_405_with_allow(server):
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        r = curl(server.url + "/index.html", "-X", method)
        assert r.status == 405, method
        allow = [m.strip() for m in (r.header("allow") or "").split(",")]
        assert sorted(allow) == ["GET", "HEAD"], r.header("allow")
        assert_json_error(http_once(server.port, method, "/index.html"), 405)


def test_healthz(server):
    r = curl(server.url + "/healthz")
    assert r.status == 200
    assert media_type(r.header("content-type")) == "application/json"
    import json
    doc = json.loads(r.body)
    assert doc["status"] == "ok"
    h = http_once(server.port, "HEAD", "/healthz")
    assert h.status == 200 and h.body == b""


def test_not_found_is_json(server):
    r = http_once(server.port, "GET", "/no/such/file.txt")
    assert_json_error(r, 404)
    assert_common_headers(r)


def test_directory_without_slash_redirects(server):
    r = curl(server.url + "/sub")
    assert r.status == 301
    assert r.header("location") in ("/sub/", server.url + "/sub/")
    r = curl(server.url + "/sub", "-L")
    assert r.status == 200 and b"sub index" in r.body
    assert curl(server.url + "/sub/page.html").body.endswith(b"sub page</p>\n")


def test_directory_redirect_keeps_the_query(server):
    r = curl(server.url + "/sub?x=1")
    assert r.status == 301
    assert r.header("location") in ("/sub/?x=1", server.url + "/sub/?x=1")


def test_directory_without_index_is_404(server):
    assert http_once(server.port, "GET", "/empty-dir/").status == 404


def test_big_file_download_is_intact(server, site):
    r = curl(server.url + "/big.bin")
    assert r.status == 200
    assert int(r.header("content-length")) == 5 * 1024 * 1024
    assert sha256(r.body) == sha256(site.files["big.bin"])


def test_parallel_big_downloads_are_intact(server, site):
    want = sha256(site.files["big.bin"])
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: curl(server.url + "/big.bin", timeout=60), range(8)))
    assert all(r.status == 200 and sha256(r.body) == want for r in results)


def test_keepalive_reuses_one_connection_for_several_files(server, site):
    p = subprocess.run(["curl", "-sS", "-v", "--max-time", "20",
                        server.url + "/small.txt", server.url + "/style.css", server.url + "/data.json",
                        "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null"],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    err = p.stderr.decode()
    assert err.count("Connected to") == 1 and "Re-using existing connection" in err, err


def test_the_repository_landing_page(herald):
    # The real public/ of the repository: the page, its stylesheet and icon all resolve.
    from conftest import ROOT
    h = herald(public=ROOT / "public")
    page = curl(h.url + "/")
    assert page.status == 200 and b"<title>Herald</title>" in page.body
    assert b'href="/healthz"' in page.body
    assert media_type(curl(h.url + "/style.css").header("content-type")) == "text/css"
    assert media_type(curl(h.url + "/favicon.svg").header("content-type")) == "image/svg+xml"
