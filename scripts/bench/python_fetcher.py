"""The obvious alternative to microfleet-fetcher, for the benchmark: requests + json.

Fetches every page of the sample clustering service (page/limit paging), and delivers the users to the
sample promotion platform with the same staging protocol (batches, then commit).
Usage: python_fetcher.py SOURCE_URL SINK_URL PAGE_SIZE BATCH_SIZE RUN_ID
"""
import json
import sys

import requests


ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def body(batch):
    """The protocol's batch body: a JSON array with one item per line."""
    return "[" + ",\n".join(map(ENCODE, batch)) + "]"


def main():
    source, sink, page_size, batch_size, run_id = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    session = requests.Session()
    page, seq, total, batch = 1, 0, 0, []
    while True:
        response = session.get(source, params={"page": page, "limit": page_size}, timeout=60)
        response.raise_for_status()
        users = response.json()["users"]
        for user in users:
            if "user_id" not in user:
                raise SystemExit(f"user without user_id: {user}")
            batch.append(user)
            if len(batch) == batch_size:
                session.post(f"{sink}/runs/{run_id}/batches/{seq}", data=body(batch), headers={"content-type": "application/json"}, timeout=60).raise_for_status()
                seq, total, batch = seq + 1, total + len(batch), []
        if len(users) < page_size:
            break
        page += 1
    if batch:
        session.post(f"{sink}/runs/{run_id}/batches/{seq}", data=body(batch), headers={"content-type": "application/json"}, timeout=60).raise_for_status()
        seq, total = seq + 1, total + len(batch)
    session.post(f"{sink}/runs/{run_id}/commit", json={"items": total, "batches": seq}, timeout=60).raise_for_status()
    print(total)


if __name__ == "__main__":
    main()
