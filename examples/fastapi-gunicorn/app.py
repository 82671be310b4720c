"""A FastAPI app that lets a signed-in user download books, with the download's progress live on
the page through Herald. Run it under gunicorn with four uvicorn workers (see README.md):

    gunicorn -w 4 -k uvicorn.workers.UvicornWorker -b 127.0.0.1:8000 app:app

- POST /books/{book_id}/download creates a Herald task for the download (owned by the user),
  hands the job to a thread of this worker process, and answers with the task id (303 to the
  download's page for a browser form, 202 JSON for an API client);
- GET /downloads/{task_id} is the page: `<herald-task task="...">` from Herald's /herald.js
  shows the bar, whichever gunicorn worker serves the page — the state lives in Herald, not
  in the worker that runs the job;
- the job reports through herald_client: `with h.attach(task_id) as t: ... t.progress(...)`.

Configuration (environment):
  HERALD_URL                Herald's URL for this app (several, comma-separated: failover);
  HERALD_PUBLIC_URL         Herald's URL as browsers reach it (default: HERALD_URL);
  HERALD_PUBLISH_TOKEN      the publish token `herald serve --publish-token` was given (if any);
  HERALD_AUTH_SECRET_FILE   the secret of `herald serve --auth-secret-file` (if any): pages
                            then get a viewer token for the signed-in user;
  DOWNLOAD_DIR              where books are written (default ./downloads);
  DOWNLOAD_CHUNK_DELAY      seconds one 16 KiB chunk takes from the (simulated) mirror (0.05);
  DOWNLOADS_PER_WORKER      downloads one gunicorn worker runs at once (default 4).
"""

from __future__ import annotations

import html
import math
import logging
import os
import re
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Optional

from fastapi import Cookie, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from herald_client import Cancelled, Herald, HeraldError, mint_token

log = logging.getLogger("gunicorn.error")        # gunicorn's error log (stderr by default)


def _servers(value: str) -> list[str]:
    return [s.rstrip("/") for s in re.split(r"[,\s]+", value) if s]


HERALD_URLS = _servers(os.environ.get("HERALD_URL", "http://127.0.0.1:8080"))
HERALD_PUBLIC_URLS = _servers(os.environ.get("HERALD_PUBLIC_URL", "")) or HERALD_URLS
PUBLISH_TOKEN = os.environ.get("HERALD_PUBLISH_TOKEN") or None
SECRET_FILE = os.environ.get("HERALD_AUTH_SECRET_FILE") or None
AUTH_SECRET = Path(SECRET_FILE).read_bytes() if SECRET_FILE else None   # mint_token strips it as herald does
DOWNLOAD_DIR = Path(os.environ.get("DOWNLOAD_DIR", "downloads"))
CHUNK = 16 * 1024
CHUNK_DELAY = float(os.environ.get("DOWNLOAD_CHUNK_DELAY", "0.05"))
DOWNLOADS_PER_WORKER = int(os.environ.get("DOWNLOADS_PER_WORKER", "4"))
USER_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")      # a name Herald accepts as `owner`

# The catalogue: id → (title, size in bytes). "the-lost-chapter" is on a broken mirror.
BOOKS = {
    "moby-dick": ("Moby-Dick; or, The Whale", 1_276_000),
    "middlemarch": ("Middlemarch", 1_793_000),
    "war-and-peace": ("War and Peace", 3_359_000),
    "the-lost-chapter": ("The Lost Chapter", 900_000),
}


class MirrorError(ConnectionError):
    """The mirror dropped the connection."""


def fetch_chunk(book_id: str, offset: int, size: int) -> bytes:
    """One chunk of the book from its mirror. Simulated (a sleep stands for the network) so the
    example runs offline; put your real HTTP range request here."""
    time.sleep(CHUNK_DELAY)
    if book_id == "the-lost-chapter" and offset >= BOOKS[book_id][1] * 0.4:
        raise MirrorError(f"mirror closed the connection at byte {offset}")
    line = f"{BOOKS[book_id][0]}, byte {offset}\n".encode()
    return (line * (size // len(line) + 1))[:size]


def download(h: Herald, task_id: str, book_id: str) -> None:
    """The job, in a thread of the worker that took the request. Entering `with` starts the
    task and a heartbeat thread that renews its lease while the block runs; leaving the block
    completes it with `t.result`. An exception fails it (code: the exception's class name) and
    goes on; a cancel from the dashboard raises Cancelled out of progress(), which the block
    confirms (`cancelled`) and swallows. A download cancelled while it waited for a thread
    raises Cancelled from the `with` statement itself: the block does not run."""
    title, size = BOOKS[book_id]
    path = DOWNLOAD_DIR / f"{task_id}.txt"
    try:
        with h.attach(task_id) as t:
            try:
                with open(path, "wb") as out:
                    done = 0
                    while done < size:
                        data = fetch_chunk(book_id, done, min(CHUNK, size - done))
                        out.write(data)
                        done += len(data)
                        # wait=False: the download never waits for Herald; while one report is
                        # on its way, newer ones replace each other (start and end always go).
                        t.progress(done=done, message=f"{done / 1e6:.1f} of {size / 1e6:.1f} MB",
                                   wait=False)
            except BaseException:
                path.unlink(missing_ok=True)          # failed or cancelled: no half a book
                raise
            t.result = {"file": path.name, "bytes": done}
    except Cancelled:
        log.info("download %s of %s was cancelled before it started", task_id, book_id)
    except Exception:
        log.exception("download %s of %s failed", task_id, book_id)   # Herald shows it failed


# --------------------------------------------------------------------------- the app

@asynccontextmanager
async def lifespan(app: FastAPI):
    # Per worker process, after gunicorn forked it: one Herald client (thread-safe, keeps the
    # server that answered) and a small pool of download threads.
    DOWNLOAD_DIR.mkdir(parents=True, exist_ok=True)
    app.state.herald = Herald(HERALD_URLS, token=PUBLISH_TOKEN)
    app.state.jobs = ThreadPoolExecutor(DOWNLOADS_PER_WORKER, thread_name_prefix="download")
    yield
    # gunicorn stops a worker (deploy, --max-requests): let its running downloads finish, for
    # up to gunicorn's --graceful-timeout; after that it is killed and Herald's lease marks
    # the task stale, then failed, instead of leaving a bar that stands still forever.
    app.state.jobs.shutdown(wait=True)
    app.state.herald.close()


app = FastAPI(title="Books", lifespan=lifespan)


def page(title: str, body: str, user: Optional[str], head: str = "") -> HTMLResponse:
    pid = os.getpid()
    who = (f'Signed in as <b>{html.escape(user)}</b> · <a href="/logout">sign out</a>' if user
           else "Not signed in")
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{html.escape(title)} · Books</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }}
  header, footer {{ color: #555; font-size: .9rem; }}
  li {{ margin: .4rem 0; }} form {{ display: inline; }}
  herald-task {{ display: block; margin: 1.5rem 0; }}
</style>{head}
</head><body data-worker-pid="{pid}">
<header><a href="/">Books</a> · {who}</header>
<main><h1>{html.escape(title)}</h1>
{body}
</main>
<footer>Served by gunicorn worker {pid}</footer>
</body></html>"""
    return HTMLResponse(doc, headers={"X-Served-By": str(pid), "Cache-Control": "no-store"})


def signed_in(user: Optional[str]) -> Optional[str]:
    return user if user and USER_RE.match(user) else None


@app.get("/", response_class=HTMLResponse)
def index(user: Optional[str] = Cookie(None)):
    user = signed_in(user)
    if not user:
        return page("Sign in", """<form method="post" action="/login">
<label>Your name <input name="name" required pattern="[A-Za-z0-9._-]{1,64}" autofocus></label>
<button>Sign in</button></form>""", None)
    items = "\n".join(
        f'<li>{html.escape(title)} ({size / 1e6:.1f} MB) '
        f'<form method="post" action="/books/{book_id}/download"><button>Download</button></form></li>'
        for book_id, (title, size) in BOOKS.items())
    return page("Books", f"<ul>\n{items}\n</ul>", user)


@app.post("/login")
def login(name: str = Form(...)):
    if not USER_RE.match(name):
        raise HTTPException(400, "a name of letters, digits, '.', '_' or '-'")
    r = RedirectResponse("/", status_code=303)
    r.set_cookie("user", name, httponly=True, samesite="lax")
    return r


@app.get("/logout")
def logout():
    r = RedirectResponse("/", status_code=303)
    r.delete_cookie("user")
    return r


@app.post("/books/{book_id}/download")
def start_download(book_id: str, request: Request, user: Optional[str] = Cookie(None)):
    # A plain `def`: FastAPI runs it in its thread pool, so the (blocking, retried) call to
    # Herald does not stall this worker's event loop.
    user = signed_in(user)
    if not user:
        raise HTTPException(401, "sign in first")
    if book_id not in BOOKS:
        raise HTTPException(404, "no such book")
    title, size = BOOKS[book_id]
    h: Herald = request.app.state.herald
    # The task exists (queued) before the answer, so the page never asks for a task that is
    # not there yet; the job starts it when a download thread is free.
    t = h.create(id=f"book-{uuid.uuid4().hex[:16]}", title=f"Downloading {title}", total=size,
                 owner=user, lease_s=10,
                 meta={"book": book_id, "worker": f"{socket.gethostname()}:{os.getpid()}"})
    request.app.state.jobs.submit(download, h, t.id, book_id)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"task_id": t.id, "page": f"/downloads/{t.id}"}, status_code=202)
    return RedirectResponse(f"/downloads/{t.id}", status_code=303)


@app.get("/downloads/{task_id}", response_class=HTMLResponse)
def download_page(task_id: str, request: Request, user: Optional[str] = Cookie(None)):
    user = signed_in(user)
    if not user:
        return RedirectResponse("/", status_code=303)
    # The app shows only the user's own downloads (Herald would too, under access control).
    try:
        task = request.app.state.herald.get(task_id)
    except HeraldError as e:
        if e.status != 404:
            raise
        task = None
    if task is None or task.get("owner") != user:
        raise HTTPException(404, "no such download")
    servers = " ".join(HERALD_PUBLIC_URLS)
    # Under access control the browser needs a token of its own: a viewer token for this user
    # (it sees this user's tasks and nobody else's), and where to get the next one before it
    # expires while the page stays open.
    auth = (f' token="{viewer_token(user)}" token-url="/herald-token"' if AUTH_SECRET else "")
    # The state the app just read, so a reload shows the bar where it was at once (the element
    # keeps it until Herald's snapshot, which can only be newer).
    state = f' status="{html.escape(task["status"])}"'
    if isinstance(task.get("percent"), (int, float)):
        state += f' percent="{math.floor(task["percent"])}"'
    body = (f'<herald-task task="{html.escape(task_id)}" servers="{html.escape(servers)}"{auth}{state}>'
            f'</herald-task>\n<p><a href="/">More books</a></p>')
    head = f'\n<script type="module" src="{html.escape(HERALD_PUBLIC_URLS[0])}/herald.js"></script>'
    return page("Your download", body, user, head)


def viewer_token(user: str) -> str:
    return mint_token(AUTH_SECRET, sub=user, role="viewer", ttl=3600)


@app.get("/herald-token")
def herald_token(user: Optional[str] = Cookie(None)):
    """A fresh viewer token for the signed-in user, as herald.js asks for it (token-url)."""
    user = signed_in(user)
    if not AUTH_SECRET:
        raise HTTPException(404, "Herald runs without access control")
    if not user:
        raise HTTPException(401, "sign in first")
    return JSONResponse({"token": viewer_token(user)}, headers={"Cache-Control": "no-store"})
