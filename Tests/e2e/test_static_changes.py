"""Static files that change while served (issue 18: answers cached per file version and
revalidated with one fstatat): every change must show at the next request, through the binary."""

import os
import time

from support import curl


def served_twice(server, name, content):
    """GETs `name` twice (the second answer comes from the cache) and checks the body."""
    for _ in range(2):
        r = curl(server.url + "/" + name)
        assert r.status == 200 and r.body == content, (r.status, r.body)
    time.sleep(0.03)  # past the kernel's timestamp granularity: the change gets another ctime
    return r


def test_changes_show_at_the_next_request(herald, tmp_path):
    public = tmp_path / "public"
    public.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.html").write_bytes(b"outside the root")
    server = herald(public=str(public))
    f = public / "a.html"

    # Rewritten in place, same size, the old mtime put back to the nanosecond: only ctime differs.
    f.write_bytes(b"version one")
    served_twice(server, "a.html", b"version one")
    st = os.stat(f)
    with open(f, "r+b") as w:
        w.write(b"version two")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(f).st_mtime_ns == st.st_mtime_ns and os.stat(f).st_ino == st.st_ino
    assert curl(server.url + "/a.html").body == b"version two"

    # Size change.
    served_twice(server, "a.html", b"version two")
    f.write_bytes(b"a longer version three")
    assert curl(server.url + "/a.html").body == b"a longer version three"

    # Renamed over by a file of the same size and mtime (a new inode).
    served_twice(server, "a.html", b"a longer version three")
    tmp = public / "a.tmp"
    tmp.write_bytes(b"a longer version four!")
    st = os.stat(f)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.rename(tmp, f)
    assert curl(server.url + "/a.html").body == b"a longer version four!"

    # mtime alone: a new ETag and Last-Modified; the old tag no longer gives a 304.
    old = served_twice(server, "a.html", b"a longer version four!")
    tag = old.header("etag")
    assert curl(server.url + "/a.html", "-H", f"If-None-Match: {tag}").status == 304
    os.utime(f, (1_600_000_000, 1_600_000_000))
    r = curl(server.url + "/a.html", "-H", f"If-None-Match: {tag}")
    assert r.status == 200 and r.header("etag") != tag
    assert r.header("last-modified") == "Sun, 13 Sep 2020 12:26:40 GMT"
    head = curl(server.url + "/a.html", "-I")
    assert head.status == 200 and int(head.header("content-length")) == len(b"a longer version four!")

    # chmod: refused when the server cannot read it (root always can).
    served_twice(server, "a.html", b"a longer version four!")
    os.chmod(f, 0)
    r = curl(server.url + "/a.html")
    assert r.status == (200 if os.geteuid() == 0 else 403), r.status
    os.chmod(f, 0o644)

    # Replaced by a symlink to a file outside the root: refused as a missing file.
    served_twice(server, "a.html", b"a longer version four!")
    f.unlink()
    f.symlink_to(outside / "secret.html")
    r = curl(server.url + "/a.html")
    assert r.status == 404 and b"outside" not in r.body

    # Replaced by a directory: the redirect to its trailing slash.
    f.unlink()
    f.write_bytes(b"file again")
    served_twice(server, "a.html", b"file again")
    f.unlink()
    f.mkdir()
    (f / "index.html").write_bytes(b"index")
    r = curl(server.url + "/a.html")
    assert r.status == 301 and r.header("location") == "/a.html/"

    # Deleted.
    g = public / "b.html"
    g.write_bytes(b"to be deleted")
    served_twice(server, "b.html", b"to be deleted")
    g.unlink()
    assert curl(server.url + "/b.html").status == 404

    # A nested file (openat2, then the cached answer) changed in place.
    (public / "sub").mkdir()
    n = public / "sub" / "c.html"
    n.write_bytes(b"nested one")
    served_twice(server, "sub/c.html", b"nested one")
    with open(n, "r+b") as w:
        w.write(b"nested two")
    assert curl(server.url + "/sub/c.html").body == b"nested two"
