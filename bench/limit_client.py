"""The limit: the least work any client must do to read one endpoint.

One keep-alive ``requests.Session``, POST each search page with the previous page's cursor, parse
the body with orjson (the parser operate-export uses, so the comparison is of everything else:
typing, buffering, writing), count the items, nothing more.

v1: ``searchAfter`` set to the previous page's ``sortValues``. v2: ``page: {limit, after}`` with
the previous page's ``page.endCursor``, and the same sort operate-export sends (the unique key
ascending, ``SORT_KEY``), so that the server does the same work for both clients.

Usage: limit_client.py BASE_URL ENDPOINT_PATH PAGE_SIZE [v1|v2 [SORT_KEY]]
Prints one JSON line: {"records": N, "pages": P}.
"""

from __future__ import annotations

import sys

import orjson
import requests

# Per request. Generous: the first pass (bench/clients.py establish_truth) is where the
# simulator builds its indexes, which took over a minute on a 2-core box at load average 25.
TIMEOUT = 600


def fetch_all(
    base_url: str, endpoint_path: str, page_size: int, api: str = "v1", sort_key: str = ""
) -> tuple[int, int]:
    if api == "v2":
        return fetch_all_v2(base_url, endpoint_path, page_size, sort_key)
    url = f"{base_url.rstrip('/')}{endpoint_path}/search"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    body: dict[str, object] = {"size": page_size}
    records = pages = 0
    with requests.Session() as session:
        while True:
            response = session.post(url, data=orjson.dumps(body), headers=headers, timeout=TIMEOUT)
            response.raise_for_status()
            page = orjson.loads(response.content)
            items = page["items"]
            records += len(items)
            pages += 1
            # Operate's end-of-data rule: a short (or empty) page is the last one.
            if len(items) < page_size:
                return records, pages
            body["searchAfter"] = page["sortValues"]


def fetch_all_v2(
    base_url: str, endpoint_path: str, page_size: int, sort_key: str
) -> tuple[int, int]:
    url = f"{base_url.rstrip('/')}{endpoint_path}/search"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    page_request: dict[str, object] = {"limit": page_size}
    body: dict[str, object] = {"page": page_request}
    if sort_key:
        body["sort"] = [{"field": sort_key, "order": "ASC"}]
    records = pages = 0
    with requests.Session() as session:
        while True:
            response = session.post(url, data=orjson.dumps(body), headers=headers, timeout=TIMEOUT)
            response.raise_for_status()
            page = orjson.loads(response.content)
            items = page["items"]
            records += len(items)
            pages += 1
            cursor = page["page"].get("endCursor")
            # v2's end: a short (or empty) page, or no cursor to continue after.
            if len(items) < page_size or not cursor:
                return records, pages
            page_request["after"] = cursor


def main(argv: list[str]) -> int:
    base_url, endpoint_path, page_size = argv[1], argv[2], int(argv[3])
    api = argv[4] if len(argv) > 4 else "v1"
    sort_key = argv[5] if len(argv) > 5 else ""
    records, pages = fetch_all(base_url, endpoint_path, page_size, api, sort_key)
    sys.stdout.write(orjson.dumps({"records": records, "pages": pages}).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
