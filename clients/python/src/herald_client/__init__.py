"""Herald's Python worker client.

    from herald_client import Herald, Cancelled, HeraldError, mint_token
    h = Herald(["http://a:8080", "http://b:8080"], token="...")
    with h.task(title="Export", total=100, owner="alice", lease_s=10) as t:
        for i in range(100):
            t.progress(done=i + 1, message=f"row {i}")   # raises Cancelled after a cancel
        t.result = {"url": "https://..."}

The worker side needs only the standard library; `Herald.subscribe()` needs `websockets`
(`pip install 'herald-client[ws]'`).
"""

from ._client import Herald, Task
from ._errors import Cancelled, HeraldError, HeraldUnavailable
from ._tokens import mint_token
from ._transport import VERSION as __version__

__all__ = ["Herald", "Task", "Cancelled", "HeraldError", "HeraldUnavailable", "mint_token", "__version__"]
