"""Settings for `rq worker -c articles.rq_settings` (RQ reads the UPPERCASE names).

Importing this module in the worker's main process also preloads the job code and its Herald
client once, instead of in every forked work horse, and checks Herald right away, so a wrong
HERALD_URL stops the worker at start-up rather than failing the first article.
"""

from . import settings
from .clients import herald
from . import jobs  # noqa: F401 (preloaded before the fork)

REDIS_URL = settings.REDIS_URL
QUEUES = [settings.QUEUE]

herald.list(limit=1)
