"""
The site as a picture, from the master: ``fileshare_topology.diagram`` (the site's nodes grouped by
role, the VIP and every flow the firewall admits, with its ports), rendered by Graphviz.

.. code-block:: bash

    salt-run fileshare.diagram                          # DOT text, from any node of the site
    salt-run fileshare.diagram out=/srv/site/site.svg   # SVG (or .png, .pdf, .dot) written on the master
    salt-run fileshare.diagram tgt=lb1 out=site.png     # ask lb1 (a master serving several sites)

The nodes derive the topology from their pillar (the one derivation the formulas use); nodes that
answer with different sites are refused: name one with ``tgt``. Writing a picture needs Graphviz's
``dot`` on the master (Debian: ``graphviz``).
"""

import os
import shutil
import subprocess

import salt.client
from salt.exceptions import CommandExecutionError, SaltInvocationError

FORMATS = ("svg", "png", "pdf", "dot")


def _format(out):
    """The picture's format from OUT's suffix (pure)."""
    fmt = os.path.splitext(out)[1].lstrip(".").lower()
    if fmt not in FORMATS:
        raise SaltInvocationError(f"out={out}: the file name ends in one of .{', .'.join(FORMATS)}")
    return fmt


def one_site(answers):
    """The one DOT text the minions' ANSWERS ({minion: text}) agree on (pure)."""
    texts = {text for text in answers.values() if isinstance(text, str) and text.startswith("digraph")}
    if not texts:
        raise CommandExecutionError(f"no node answered fileshare_topology.diagram: {sorted(answers)}")
    if len(texts) > 1:
        raise CommandExecutionError(
            f"the nodes answer {len(texts)} different sites: name one node of the site with tgt="
        )
    return texts.pop()


def diagram(tgt="*", out=None, timeout=60):
    """
    The site's diagram: its DOT text, or with OUT the picture written there (format from the suffix:
    svg, png, pdf or dot). TGT (a glob) picks the nodes asked.

    CLI Example:

    .. code-block:: bash

        salt-run fileshare.diagram out=/srv/site/site.svg
    """
    fmt = _format(out) if out else None
    if fmt not in (None, "dot") and not shutil.which("dot"):
        raise CommandExecutionError(
            "Graphviz's dot is not on the master (apt install graphviz), or write out=*.dot"
        )
    client = salt.client.get_local_client(__opts__["conf_file"])
    answers = client.cmd(tgt, "fileshare_topology.diagram", timeout=timeout)
    text = one_site(answers or {})
    if out is None:
        return text
    if fmt == "dot":
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        done = subprocess.run(
            ["dot", f"-T{fmt}", "-o", out],
            input=text,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise CommandExecutionError(f"dot failed: {done.stderr.strip()}")
    return f"{out} written ({fmt}, {len(answers)} nodes answered)"
