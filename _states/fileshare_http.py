"""
Gate: a URL answers the expected HTTP status (e.g. an app node's /health), waiting a bounded time.

.. code-block:: yaml

    app1 answers /health with 200:
      fileshare_http.answers:
        - name: http://10.77.0.41:8000/health
        - host: files.example.org
        - attempts: 60
"""

__virtualname__ = "fileshare_http"


def __virtual__():
    if "fileshare_http.wait" in __salt__:
        return __virtualname__
    return False, "the fileshare_http execution module is not available"


def answers(name, host=None, expected=200, attempts=1, interval=1, timeout=5):
    """
    URL NAME answers EXPECTED within ATTEMPTS tries INTERVAL seconds apart (each at most TIMEOUT
    seconds). Changes nothing; under test=True one try, and a wrong answer is what would be waited for.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    if __opts__.get("test"):
        code = __salt__["fileshare_http.status"](name, host, timeout)
        if code != int(expected):
            ret.update(
                result=None if int(attempts) > 1 else False,
                comment=f"{name} answered {code or 'nothing'} now; would ask {attempts} time(s)",
            )
            return ret
    else:
        try:
            code = __salt__["fileshare_http.wait"](name, host, expected, attempts, interval, timeout)
        except Exception as exc:  # CommandExecutionError: the last answer
            ret.update(result=False, comment=str(exc))
            return ret
    ret["comment"] = f"{name} answered {code}"
    return ret
