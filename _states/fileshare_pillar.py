"""
The gate every orchestration passes first: the ``fileshare`` pillar is valid for the site.

.. code-block:: yaml

    pillar is valid for the site:
      fileshare_pillar.validated:
        - name: fileshare
        - failhard: True

It only reads pillar, so it never changes anything and gives the same verdict under ``test=True``.
"""

__virtualname__ = "fileshare_pillar"


def __virtual__():
    if "fileshare_pillar.validate" not in __salt__:
        return False, "fileshare_pillar state needs the fileshare_pillar execution module (saltutil.sync_all)"
    return __virtualname__


def validated(name="fileshare", data=None):
    """
    Succeed when the pillar subtree ``name`` (or ``data``) is valid; else fail with one message naming
    the first bad key and the reason.

    name
        The pillar key holding the site's configuration (``fileshare``).
    data
        Validate this subtree instead of pillar (for tests and for checking a candidate pillar).
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    if data is None:
        data = __pillar__.get(name)
    found = __salt__["fileshare_pillar.validate"](data)
    if found:
        # Same verdict under test=True: a bad pillar must stop a dry run too.
        ret["result"] = False
        ret["comment"] = __salt__["fileshare_pillar.message"](found)
        return ret
    nodes = data.get("nodes", [])
    ret["comment"] = (
        f"pillar {name} is valid: site {data.get('site')}, {data.get('architecture')} with "
        f"{len(nodes)} node(s), product {data.get('product')}"
    )
    return ret
