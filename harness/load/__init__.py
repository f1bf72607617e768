"""Traffic and recording: a locust subprocess that sends the scenario's traffic and appends one
``RequestRecord`` per request to a JSONL file.

- ``runner``: ``start_load`` / ``LoadRun`` (the asyncio API for the orchestrator).
- ``locustfile``: what runs inside locust; ``config``: how settings reach it.
- ``classify``: the error classes; ``progress``: live counts. The record lines themselves are
  ``harness.records``'s.

Nothing is imported here: the locust (gevent) process imports this package too, and must not
pull in the asyncio side.
"""
