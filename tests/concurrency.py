"""Real concurrency for the race tests: threads released at the same moment."""
from __future__ import annotations

import threading


def run_together(n: int, fn) -> list:
    """fn(i) in n threads released at once; each result or the exception it raised."""
    start = threading.Barrier(n)
    results: list = [None] * n

    def one(i):
        start.wait(30)
        try:
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - the test looks at what each thread met
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return results
