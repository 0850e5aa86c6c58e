"""The limit: the least work any client must do to read one endpoint.

One keep-alive ``requests.Session``, POST each search page with ``searchAfter`` set to the previous
page's ``sortValues``, parse the body with orjson (the parser operate-export uses, so the comparison
is of everything else: typing, buffering, writing), count the items, nothing more.

Usage: limit_client.py BASE_URL ENDPOINT_PATH PAGE_SIZE
Prints one JSON line: {"records": N, "pages": P}.
"""

from __future__ import annotations

import sys

import orjson
import requests


def fetch_all(base_url: str, endpoint_path: str, page_size: int) -> tuple[int, int]:
    url = f"{base_url.rstrip('/')}{endpoint_path}/search"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    body: dict[str, object] = {"size": page_size}
    records = pages = 0
    with requests.Session() as session:
        while True:
            response = session.post(url, data=orjson.dumps(body), headers=headers, timeout=60)
            response.raise_for_status()
            page = orjson.loads(response.content)
            items = page["items"]
            records += len(items)
            pages += 1
            # Operate's end-of-data rule: a short (or empty) page is the last one.
            if len(items) < page_size:
                return records, pages
            body["searchAfter"] = page["sortValues"]


def main(argv: list[str]) -> int:
    base_url, endpoint_path, page_size = argv[1], argv[2], int(argv[3])
    records, pages = fetch_all(base_url, endpoint_path, page_size)
    sys.stdout.write(orjson.dumps({"records": records, "pages": pages}).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
