"""Traffic and recording: a locust subprocess that sends the scenario's traffic and appends one
``RequestRecord`` per request to a JSONL file.

- ``runner``: ``start_load`` / ``LoadRun`` (the asyncio API for the orchestrator); ``spawn``:
  one locust process; ``status``: what the processes said of themselves (their status files).
- ``traffic``: the scenario's ``traffic:`` section; ``workers``: how many processes send it
  (locust's distributed mode); ``clocks``: the load nodes' clocks when it is sent from the
  cluster (harness.backends.kube.loadpods makes the pods).
- ``locustfile``: what runs inside locust; ``distributed``: what its master and workers add;
  ``config``: how settings reach it; ``mix``: the requests as data (``traffic.requests``:
  method, path, headers, body, expect, weight) and the draw of one.
- ``progress``: live counts. The record lines are ``harness.records``'s, and the error classes
  ``harness.classify``'s (the locustfile sorts each failure with it).

Nothing is imported here: the locust (gevent) process imports this package too, and must not
pull in the asyncio side.
"""
