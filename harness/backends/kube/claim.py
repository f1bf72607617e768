"""A run's hold on its namespace for one order: made if missing (its UID recorded), its Lease
taken and renewed, what gone runs left there removed; and at teardown given back.

The namespace is deleted only by the run that made it, only while that run still holds its
Lease, and only the very namespace it made (cleanup.delete_namespace); otherwise only the Lease
goes. Blocking: the backend runs these in threads.
"""

from __future__ import annotations

from harness.backends.kube import cleanup
from harness.backends.kube.api import Api
from harness.backends.kube.apply import ensure_namespace
from harness.backends.kube.lease import LeaseHolder
from harness.backends.kube.session import Session
from harness.errors import BackendError


def claim_namespace(
    api: Api,
    session: Session,
    run_id: str,
    server_minor: int | None,
    allow_namespace: str | None,
    sweep_timeout_s: float,
) -> None:
    """From here on the namespace is this run's, or BackendError (one line) says whose it is."""
    ns = session.names.namespace
    session.namespace_uid = ensure_namespace(
        api, session.names, run_id, server_minor, allow_namespace
    )
    lease = LeaseHolder(api, ns, run_id)
    lease.acquire()
    session.lease = lease
    lease.start_renewing()
    cleanup.sweep_leftovers(api, ns, run_id, sweep_timeout_s)


def release_namespace(api: Api, session: Session, run_id: str) -> bool:
    """Gives the namespace back: deletes it if this run made it and still holds its Lease (True:
    deletion asked; the Lease goes with it), else deletes the Lease alone."""
    lease, ns = session.lease, session.names.namespace
    if lease is None:
        return False  # never held: the namespace, if this run made it, is another run's now
    lease.stop_renewing()
    uid = session.namespace_uid
    held = uid is not None and lease.lost is None and lease.holds()
    if held and uid is not None and cleanup.delete_namespace(api, ns, uid, run_id):
        return True
    lease.release()
    return False


def check_lease(session: Session) -> None:
    """BackendError when another run took the namespace's Lease: this run must not go on."""
    if session.lease is not None and session.lease.lost is not None:
        raise BackendError(session.lease.lost)
