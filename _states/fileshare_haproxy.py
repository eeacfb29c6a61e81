"""
Drain, maint and ready of one HAProxy server through the runtime API, for rolling upgrades.

.. code-block:: yaml

    app1 is drained on this load node:
      fileshare_haproxy.drained:
        - name: app1
        - backend: app
        - timeout: 60

    db1 takes no database session on this load node:
      fileshare_haproxy.maint:
        - name: db1
        - backend: db
        - timeout: 20

    app1 takes traffic again on this load node:
      fileshare_haproxy.ready:
        - name: app1
        - backend: app
        - timeout: 60

BACKEND is HAProxy's backend name or the site's key for it (``app``, ``db``, ``redis``), resolved by
the execution module through the topology's ``names:backends``.

Each state reads the server first and changes nothing when it is already where it should be; under
test=True it says what it would set. A state that cannot prove its end condition (sessions still open
after the bound, checks not passing) fails with what it saw, and leaves the server as it set it: the
runbook stops with that node drained or in maint, never half-serving.
"""

__virtualname__ = "fileshare_haproxy"


def __virtual__():
    if "fileshare_haproxy.server" in __salt__:
        return __virtualname__
    return False, "the fileshare_haproxy execution module is not available"


def _ret(name):
    return {"name": name, "changes": {}, "result": True, "comment": ""}


def _view(ret, backend, name):
    try:
        return __salt__["fileshare_haproxy.server"](backend, name)
    except Exception as exc:
        ret.update(result=False, comment=f"{backend}/{name}: {exc}")
        return None


def _set_and_wait(ret, backend, name, state, until, timeout, done):
    before = _view(ret, backend, name)
    if before is None:
        return ret
    settled = before["admin"] == state and (
        (until == "drained" and before["sessions"] == 0) or (until == "up" and before["up"])
    )
    if settled:
        ret["comment"] = (
            f"{backend}/{name} is already {state} ({before['status']}, {before['sessions']} session(s))"
        )
        return ret
    if before["admin"] != state:
        ret["changes"] = {"admin": {"old": before["admin"], "new": state}}
    if __opts__.get("test"):
        ret.update(
            result=None,
            comment=f"{backend}/{name} would be set {state} (now {before['admin']}, {before['status']}, "
            f"{before['sessions']} session(s)) and waited for until {until}, at most {timeout}s",
        )
        return ret
    try:
        if before["admin"] != state:
            __salt__["fileshare_haproxy.set_state"](backend, name, state)
        view = __salt__["fileshare_haproxy.wait"](backend, name, until=until, timeout=timeout)
    except Exception as exc:
        ret.update(result=False, comment=f"{backend}/{name} left {state}: {exc}")
        return ret
    ret["comment"] = done(view)
    return ret


def drained(name, backend, timeout=60):
    """
    Server NAME of BACKEND takes no new traffic (drain) and its current sessions have finished,
    within TIMEOUT seconds.
    """
    return _set_and_wait(
        _ret(name),
        backend,
        name,
        "drain",
        "drained",
        timeout,
        lambda view: f"{backend}/{name} is drained: no new traffic, {view['sessions']} session(s) left",
    )


def maint(name, backend, timeout=20, shutdown=True):
    """
    Server NAME of BACKEND takes no traffic at all (maint, health checks paused). Sessions still open
    after TIMEOUT seconds are shut down when SHUTDOWN (their clients reconnect to the next server:
    for the database front, the next writer); otherwise the state fails.
    """
    ret = _set_and_wait(
        _ret(name),
        backend,
        name,
        "maint",
        "drained",
        timeout,
        lambda view: f"{backend}/{name} is in maint with no session",
    )
    if ret["result"] is not False or not shutdown or "left maint" not in ret["comment"]:
        return ret
    try:
        __salt__["fileshare_haproxy.shutdown_sessions"](backend, name)
        view = __salt__["fileshare_haproxy.wait"](backend, name, until="drained", timeout=10)
    except Exception as exc:
        ret["comment"] += f"; shutting its sessions down failed too: {exc}"
        return ret
    ret.update(
        result=True,
        changes={
            "admin": {"old": ret["changes"].get("admin", {}).get("old", "maint"), "new": "maint"},
            "sessions": "shut down",
        },
        comment=f"{backend}/{name} is in maint; sessions still open after {timeout}s were shut down "
        f"({view['sessions']} left)",
    )
    return ret


def ready(name, backend, timeout=60):
    """
    Server NAME of BACKEND takes traffic again: set ready, then wait (at most TIMEOUT seconds) until
    its health checks pass.
    """
    return _set_and_wait(
        _ret(name),
        backend,
        name,
        "ready",
        "up",
        timeout,
        lambda view: f"{backend}/{name} is ready and {view['status']}",
    )


def serving(name, backend):
    """Gate: server NAME of BACKEND is ready and its health checks pass. Changes nothing."""
    ret = _ret(name)
    view = _view(ret, backend, name)
    if view is None:
        return ret
    if view["admin"] == "ready" and view["up"]:
        ret["comment"] = f"{backend}/{name} serves ({view['status']}, {view['sessions']} session(s))"
    else:
        reasons = ", ".join(view["admin_reasons"]) or "none"
        ret.update(
            result=False,
            comment=f"{backend}/{name} does not serve: admin {view['admin']} "
            f"({reasons}), checks say {view['status'] or 'nothing'}",
        )
    return ret


def writer_elsewhere(name, backend):
    """
    Gate: new connections of BACKEND (an active/backup front such as the database's) go to a server
    other than NAME, which may then be stopped. Changes nothing.
    """
    ret = _ret(name)
    try:
        found = __salt__["fileshare_haproxy.backend"](backend)
    except Exception as exc:
        ret.update(result=False, comment=f"{backend}: {exc}")
        return ret
    writer = found["writer"]
    if writer and writer != name:
        ret["comment"] = f"{backend} writes to {writer}, not {name}"
    else:
        ret.update(
            result=False,
            comment=f"{backend} still writes to {name}"
            if writer
            else f"{backend} has no server that can take connections",
        )
    return ret
