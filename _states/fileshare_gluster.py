"""
Gates on the GlusterFS volume for rolling upgrades.

.. code-block:: yaml

    Every brick is connected and nothing is left to heal:
      fileshare_gluster.healed:
        - name: fileshare
        - bricks: 3
        - timeout: 300
"""

__virtualname__ = "fileshare_gluster"


def __virtual__():
    if "fileshare_gluster.heal_status" in __salt__:
        return __virtualname__
    return False, "the fileshare_gluster execution module is not available (not a storage node)"


def healed(name=None, bricks=None, timeout=0):
    """
    Volume NAME lists BRICKS bricks (default: the site's storage nodes), every one connected, and no
    entry is left to heal; waits at most TIMEOUT seconds (0: one look). Changes nothing; under
    test=True one look, and a volume still healing is reported as what would be waited for.
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    try:
        if __opts__.get("test"):
            verdict = __salt__["fileshare_gluster.heal_status"](name, bricks)
            if not verdict["healed"] and float(timeout) > 0:
                ret.update(result=None, comment=f"{verdict['comment']}; would wait at most {timeout} s")
                return ret
        else:
            verdict = __salt__["fileshare_gluster.wait_healed"](name, bricks, timeout=timeout)
    except Exception as exc:  # CommandExecutionError: what is still wrong at the deadline
        ret.update(result=False, comment=str(exc))
        return ret
    ret.update(result=bool(verdict["healed"]), comment=verdict["comment"])
    return ret
