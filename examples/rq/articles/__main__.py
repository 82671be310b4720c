"""The example from a shell:

    python -m articles draft USER SLUG < text.txt   # save a draft (paragraphs: blank lines)
    python -m articles submit USER SLUG [TITLE]     # queue its publication; prints the task id
    python -m articles show USER SLUG               # the published article

`submit` exits 3 when Herald refused it for the user's limit (429 too_many_active).
"""

from __future__ import annotations

import sys

from . import store


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "draft":
        store.save_draft(argv[1], argv[2], sys.stdin.read())
        return 0
    if len(argv) in (3, 4) and argv[0] == "submit":
        from .submit import Refused, submit
        try:
            print(submit(*argv[1:]))
        except Refused as e:
            print(e.message, file=sys.stderr)
            return 3
        return 0
    if len(argv) == 3 and argv[0] == "show":
        page = store.published(argv[1], argv[2])
        if page is None:
            print("not published", file=sys.stderr)
            return 1
        print(page, end="")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
