"""
The requisites of what each node applies, as rendered: every one names a state or an SLS that is there,
they form no cycle, and no SLS file names a state ID another file declares except the Galera start
protocol's (its members join through bootstrap.sls or join.sls around galera/init.sls's "Synced" gate).
Layers and files depend on each other by SLS (`- sls: ...`) and through the map's extension points
(app/settings.jinja: the Apache module list, the product SLS the app server watches).
"""

import pytest
from render_harness import Renderer

REQUISITES = ["require", "watch", "onchanges", "onfail", "prereq", "use", "listen"]
KINDS = {kind: kind for kind in REQUISITES}
KINDS.update({f"{kind}_in": kind for kind in REQUISITES})
KINDS.update({f"{kind}_any": kind for kind in REQUISITES})

# (file, state ID it names in another file): the Galera start protocol, one concern over three files.
ALLOWED_ACROSS_FILES = {
    ("fileshare.db.galera.bootstrap", "MariaDB Galera settings are managed"),
    ("fileshare.db.galera.bootstrap", "root's MariaDB client credentials are in place"),
    ("fileshare.db.galera.bootstrap", "This node is Synced in the Galera cluster"),
    ("fileshare.db.galera.join", "MariaDB Galera settings are managed"),
    ("fileshare.db.galera.join", "root's MariaDB client credentials are in place"),
    ("fileshare.db.galera.join", "This node is Synced in the Galera cluster"),
    # galera_health.sls also serves the lab's bare Galera nodes: the member adds its package to it.
    ("fileshare.db.galera", "Galera health responder is running"),
}

# What each architecture's nodes apply besides `fileshare` (their layers): the gates and the release.
EXTRA = {
    "all_in_one": ["fileshare.infra.smoke", "fileshare.release"],
    "mini_ha": [
        "fileshare.infra.smoke",
        "fileshare.db.quorate",
        "fileshare.release",
        "fileshare.intermediate.quorate",
        "fileshare.storage.volume",
    ],
    "full_ha": [
        "fileshare.infra.smoke",
        "fileshare.db.quorate",
        "fileshare.release",
        "fileshare.intermediate.quorate",
        "fileshare.storage.volume",
    ],
}


def _cases():
    for architecture in EXTRA:
        for server in ("apache", "nginx"):
            yield pytest.param(architecture, server, id=f"{architecture}-{server}")


def _requisites(chunk):
    """[(module, kind, its target: (module, ID or name) or ('sls', name), reversed?)] of a chunk."""
    found = []
    for module, body in chunk.items():
        if module.startswith("__") or not isinstance(body, list):
            continue
        for item in body:
            if not isinstance(item, dict):
                continue
            for key, targets in item.items():
                if key not in KINDS or not isinstance(targets, list):
                    continue
                for target in targets:
                    if isinstance(target, dict):
                        reverse = key.endswith("_in")
                        found.extend((module, KINDS[key], pair, reverse) for pair in target.items())
    return found


class Graph:
    """The states (ID, module) of one node's highstate and the order its requisites impose."""

    def __init__(self, high):
        self.high = {sid: chunk for sid, chunk in high.items() if isinstance(chunk, dict)}
        self.after = {
            (sid, module): set()
            for sid, chunk in self.high.items()
            for module in chunk
            if not module.startswith("__")
        }
        self.unresolved, self.across = [], set()
        for sid, chunk in self.high.items():
            for module, _, target, reverse in _requisites(chunk):
                self._add((sid, module), chunk["__sls__"], target, reverse)
        for block in high.get("__extend__", []):
            for sid, body in block.items():
                if sid not in self.high:
                    self.unresolved.append(f"extend of {sid!r}: no such state")
                    continue
                # The file that extends a state names it.
                sls = body.get("__sls__", self.high[sid]["__sls__"])
                if sls != self.high[sid]["__sls__"]:
                    self.across.add((sls, sid))
                for module, _, target, reverse in _requisites(body):
                    self._add((sid, module), sls, target, reverse)

    def _targets(self, module, name):
        if module == "sls":
            # Salt 3008 counts the states an SLS includes as its own (salt/utils/requisite.py,
            # __sls_included_from__): requiring an SLS that includes you is a cycle.
            return [
                key
                for key in self.after
                if self.high[key[0]]["__sls__"] == name
                or name in self.high[key[0]].get("__sls_included_from__", [])
            ]
        if (name, module) in self.after:
            return [(name, module)]
        return [
            (sid, module)
            for sid, chunk in self.high.items()
            if module in chunk and any(isinstance(a, dict) and a.get("name") == name for a in chunk[module])
        ]

    def _add(self, state, sls, target, reverse):
        module, name = target
        targets = self._targets(module, name)
        if not targets:
            self.unresolved.append(f"{state[0]!r} ({sls}) names {module}: {name!r}, which is not there")
        # A requisite on a resource's name (`- galera: <cluster>`, `- service: mariadb`) names what the
        # state manages, as `- pkg: nginx` does; one on another file's state ID couples the two files.
        by_id = module != "sls" and (name, module) in self.after
        for found in targets:
            if by_id and self.high[found[0]]["__sls__"] != sls:
                self.across.add((sls, found[0]))
            if reverse:
                self.after[found].add(state)
            else:
                self.after[state].add(found)

    def cycle(self):
        """One requisite cycle as a list of state IDs, or []."""
        state = {}

        def visit(key, path):
            state[key] = "open"
            for nxt in sorted(self.after[key]):
                if state.get(nxt) == "open":
                    return [k[0] for k in path + [key, nxt]]
                if nxt not in state:
                    found = visit(nxt, path + [key])
                    if found:
                        return found
            state[key] = "done"
            return []

        for key in sorted(self.after):
            if key not in state:
                found = visit(key, [])
                if found:
                    return found
        return []


def _graphs(renderer: Renderer, architecture, server):
    override = {"app": {"server": server}} if server != "apache" else None
    seen = set()
    for node in renderer.pillar(architecture)["nodes"]:
        roles = tuple(sorted(node["roles"]))
        if roles in seen:
            continue
        seen.add(roles)
        sls = ",".join(["fileshare", *EXTRA[architecture]])
        high = renderer.show_sls("debian-12", architecture, node["name"], sls, override=override)
        assert isinstance(high, dict), f"{architecture} {node['name']} does not render:\n{high}"
        yield node["name"], Graph(high)
    if architecture != "all_in_one":
        # The orchestration's first database step, on the first db node alone.
        first = next(n["name"] for n in renderer.pillar(architecture)["nodes"] if "db" in n["roles"])
        high = renderer.show_sls("debian-12", architecture, first, "fileshare.db.galera.bootstrap")
        assert isinstance(high, dict), high
        yield f"{first} (bootstrap)", Graph(high)


@pytest.mark.parametrize(("architecture", "server"), list(_cases()))
def test_every_requisite_resolves_without_a_cycle(renderer, architecture, server):
    problems = []
    for node, graph in _graphs(renderer, architecture, server):
        problems += [f"{node}: {text}" for text in graph.unresolved]
        cycle = graph.cycle()
        if cycle:
            problems.append(f"{node}: requisite cycle {' -> '.join(cycle)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("architecture", "server"), list(_cases()))
def test_no_file_names_a_state_id_of_another_file(renderer, architecture, server):
    across = set()
    for _, graph in _graphs(renderer, architecture, server):
        across |= graph.across
    unexpected = sorted(across - ALLOWED_ACROSS_FILES)
    assert not unexpected, "\n".join(f"{sls} names {sid!r}" for sls, sid in unexpected)
