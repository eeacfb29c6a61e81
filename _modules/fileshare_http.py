"""
HTTP health checks of the file share: what a URL answers, asked as a client of the service would (the
service's name in the Host header and the TLS handshake) at a given address, and waiting for an answer.

.. code-block:: bash

    salt lb1 fileshare_http.status https://10.77.0.30/health host=files.example.org
    salt lb1 fileshare_http.wait https://10.77.0.30/health host=files.example.org attempts=30
"""

import http.client
import socket
import ssl
import time
import urllib.parse

from salt.exceptions import CommandExecutionError

__virtualname__ = "fileshare_http"


def __virtual__():
    return __virtualname__


# --------------------------------------------------------------------------- pure layer


def target(url, host=None):
    """
    ``{"scheme", "address", "port", "path", "host"}`` of URL: connect to its host and port, and name
    HOST (default: the URL's host) in the Host header and TLS SNI, as ``curl --resolve`` does.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CommandExecutionError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return {
        "scheme": parts.scheme,
        "address": parts.hostname,
        "port": port,
        "path": path,
        "host": host or parts.hostname,
    }


def answered(code, expected=200):
    """A check's verdict text: ``"/health 200"`` or what it answered instead."""
    return (
        "answered "
        + (str(code) if code is not None else "nothing")
        + ("" if code == int(expected) else f", {expected} expected")
    )


# --------------------------------------------------------------------------- outer layer


def status(url, host=None, timeout=5):
    """
    The HTTP status URL answers (None: no answer within TIMEOUT seconds). HTTPS is not verified (a
    reachability check, as ``curl -k``); HOST goes in the Host header and SNI.

    CLI Example:

    .. code-block:: bash

        salt lb1 fileshare_http.status https://10.77.0.30/health host=files.example.org
    """
    t = target(url, host)
    if t["scheme"] == "https":
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        conn = http.client.HTTPSConnection(t["host"], t["port"], timeout=float(timeout), context=context)
    else:
        conn = http.client.HTTPConnection(t["host"], t["port"], timeout=float(timeout))
    # Connect to the URL's address while the service's name stays in SNI and Host (curl --resolve).
    conn._create_connection = lambda addr, *args, **kwargs: socket.create_connection(
        (t["address"], addr[1]), *args, **kwargs
    )
    try:
        conn.request("GET", t["path"], headers={"Host": t["host"], "Connection": "close"})
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait(url, host=None, expected=200, attempts=1, interval=1, timeout=5):
    """
    Ask URL up to ATTEMPTS times, INTERVAL seconds apart (each at most TIMEOUT seconds), until it
    answers EXPECTED; returns the status, raises CommandExecutionError with the last answer.

    CLI Example:

    .. code-block:: bash

        salt lb1 fileshare_http.wait https://10.77.0.30/health host=files.example.org attempts=60
    """
    code = None
    for attempt in range(int(attempts)):
        code = status(url, host, timeout)
        if code == int(expected):
            return code
        if attempt + 1 < int(attempts):
            time.sleep(float(interval))
    raise CommandExecutionError(f"{url} {answered(code, expected)} ({attempts} attempt(s))")
