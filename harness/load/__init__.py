"""Traffic and recording: a locust subprocess that sends the scenario's traffic and appends one
``RequestRecord`` per request to a JSONL file.

- ``runner``: ``start_load`` / ``LoadRun`` (the asyncio API for the orchestrator).
- ``locustfile``: what runs inside locust; ``config``: how settings reach it; ``mix``: the
  requests as data (``traffic.requests``: method, path, headers, body, expect, weight) and the
  draw of one.
- ``progress``: live counts. The record lines are ``harness.records``'s, and the error classes
  ``harness.classify``'s (the locustfile sorts each failure with it).

Nothing is imported here: the locust (gevent) process imports this package too, and must not
pull in the asyncio side.
"""
