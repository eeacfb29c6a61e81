"""
Render harness: every SLS of the suite, on every target OS, for every architecture, without a host of
that OS. One in-process Salt caller per OS (its grains replaced by that OS's), `state.show_sls` against
the repo's file_roots and the example site's pillar (with an override merged in where a test gives
one); results are cached per (OS, architecture, minion) so the whole tier stays fast. `placed` renders
what a state puts on the node: its arguments, and a jinja template as Salt renders it with the state's
context.
"""

import copy
import functools
import json
import pathlib
import re

import salt.client
import salt.config
import salt.pillar

REPO = pathlib.Path(__file__).resolve().parents[2]
FORMULA = REPO / "formulas" / "fileshare"
ORCHESTRATE = REPO / "orchestrate" / "fileshare"
ARCHITECTURES = ["all_in_one", "mini_ha", "full_ha"]
LAYERS = ["load", "app", "db", "intermediate", "storage", "infra"]
PRODUCTS = ["owncloud", "seafile", "webdav"]

# Grains as Salt 3008 computes them on each target (salt/grains/core.py: osfinger is
# "<osfullname>-<major>" except Debian ("Debian-12") and Ubuntu ("Ubuntu-24.04")).
OS_GRAINS = {
    "debian-12": {
        "os": "Debian",
        "os_family": "Debian",
        "osfullname": "Debian",
        "osfinger": "Debian-12",
        "oscodename": "bookworm",
        "osrelease": "12",
        "osmajorrelease": 12,
        "osrelease_info": (12,),
    },
    "ubuntu-22.04": {
        "os": "Ubuntu",
        "os_family": "Debian",
        "osfullname": "Ubuntu",
        "osfinger": "Ubuntu-22.04",
        "oscodename": "jammy",
        "osrelease": "22.04",
        "osmajorrelease": 22,
        "osrelease_info": (22, 4),
    },
    "ubuntu-24.04": {
        "os": "Ubuntu",
        "os_family": "Debian",
        "osfullname": "Ubuntu",
        "osfinger": "Ubuntu-24.04",
        "oscodename": "noble",
        "osrelease": "24.04",
        "osmajorrelease": 24,
        "osrelease_info": (24, 4),
    },
    "rocky-9": {
        "os": "Rocky",
        "os_family": "RedHat",
        "osfullname": "Rocky Linux",
        "osfinger": "Rocky Linux-9",
        "oscodename": "Blue Onyx",
        "osrelease": "9.5",
        "osmajorrelease": 9,
        "osrelease_info": (9, 5),
    },
    "centos-stream-9": {
        "os": "CentOS Stream",
        "os_family": "RedHat",
        "osfullname": "CentOS Stream",
        "osfinger": "CentOS Stream-9",
        "oscodename": "CentOS Stream 9",
        "osrelease": "9",
        "osmajorrelease": 9,
        "osrelease_info": (9,),
    },
    "arch": {
        "os": "Arch",
        "os_family": "Arch",
        "osfullname": "Arch Linux",
        "osfinger": "Arch Linux-rolling",
        "oscodename": "",
        "osrelease": "rolling",
        "osrelease_info": ("rolling",),
    },
}
for _grains in OS_GRAINS.values():
    _grains.update(init="systemd", kernel="Linux", cpuarch="x86_64", osarch="x86_64", virtual="physical")

MASTER_ID = "saltmaster_master"


def discover_sls():
    """Every SLS of the formula and every orchestration: [(sls name, kind, layer, product)]."""
    found = []
    for path in sorted(FORMULA.rglob("*.sls")):
        rel = path.relative_to(FORMULA.parent).with_suffix("")
        parts = list(rel.parts)
        if {"files", "templates"} & set(parts):
            continue
        if parts[-1] == "init":
            parts.pop()
        layer = parts[1] if len(parts) > 1 and parts[1] in LAYERS else None
        product = next((p for p in parts if p in PRODUCTS), None)
        found.append((".".join(parts), "formula", layer, product))
    for path in sorted(ORCHESTRATE.glob("*.sls")):
        found.append((f"fileshare.{path.stem}", "orchestrate", None, None))
    return found


# SLS that only exist on some architectures (Galera has no place on a single node: on all_in_one its
# bootstrap would declare MariaDB's system tables a second time beside fileshare.db.mariadb).
ONLY_ON = {"fileshare.db.galera": ["mini_ha", "full_ha"]}


def architectures_for(sls, kind):
    """An orchestration named after an architecture renders for it; everything else for all three."""
    stem = sls.rsplit(".", 1)[-1]
    if kind == "orchestrate" and stem in ARCHITECTURES:
        return [stem]
    for prefix, architectures in ONLY_ON.items():
        if sls == prefix or sls.startswith(prefix + "."):
            return architectures
    return ARCHITECTURES


class Renderer:
    def __init__(self, tmp):
        self.tmp = tmp
        self._the_caller = None
        self._pillars = {}

    def _opts(self, minion_id, architecture):
        opts = salt.config.minion_config(None)
        opts.update(
            id=minion_id,
            file_client="local",
            cachedir=str(self.tmp / "cache"),
            pki_dir=str(self.tmp / "pki"),
            sock_dir=str(self.tmp / "sock"),
            log_file=str(self.tmp / "minion.log"),
            # The master's file_roots are [repo, formulas, orchestrate]; the repo root only serves
            # salt://_modules etc., and walking it (the .venv) costs 0.6 s per render, so leave it out.
            file_roots={"base": [str(REPO / "formulas"), str(REPO / "orchestrate")]},
            pillar_roots={"base": [str(REPO / "pillar")]},
            module_dirs=[str(REPO)],
            fileshare_example_architecture=architecture,
            state_verbose=False,
        )
        return opts

    def pillar(self, architecture):
        """The example site's fileshare pillar for one architecture, compiled as the master would."""
        if architecture not in self._pillars:
            opts = self._opts("node1", architecture)
            opts["grains"] = {}
            compiled = salt.pillar.get_pillar(opts, {}, "node1", saltenv="base").compile_pillar()
            self._pillars[architecture] = compiled["fileshare"]
        return self._pillars[architecture]

    def minion_for(self, architecture, layer, kind):
        if kind == "orchestrate":
            return MASTER_ID
        nodes = self.pillar(architecture)["nodes"]
        for node in nodes:
            if layer is None or layer in node["roles"]:
                return node["name"]
        return None

    def _caller(self, os_name):
        # One caller for every OS, its grains swapped per call: a second salt.client.Caller in the same
        # process renders with the first one's grains (Salt's loader context is process-global).
        if self._the_caller is None:
            self._the_caller = salt.client.Caller(mopts=self._opts("node1", "all_in_one"))
        grains = self._the_caller.opts["grains"]
        for key in set().union(*OS_GRAINS.values()):
            grains.pop(key, None)
        grains.update(copy.deepcopy(OS_GRAINS[os_name]))
        return self._the_caller

    def render(self, os_name, architecture, sls, kind, layer, product=None):
        """
        show_sls of one SLS for the minion that would run it: the states it (and its children) declare,
        or the list of render errors. SLS sharing a minion are rendered together in one call (one pillar
        compile, one loader) and split by __sls__; a batch with any error is redone one SLS at a time
        so each error lands on its own SLS.
        """
        minion = self.minion_for(architecture, layer, kind)
        if kind == "orchestrate":
            # Orchestrations include each other (mini_ha includes full_ha): render each one alone so
            # its result holds the included steps too.
            return minion, self.show_sls(os_name, architecture, minion, sls, product)
        group = tuple(
            name
            for name, k, lay, prod in discover_sls()
            if architecture in architectures_for(name, k)
            and self.minion_for(architecture, lay, k) == minion
            and prod == product
        )
        return minion, self._batch(os_name, architecture, minion, product, group)[sls]

    @functools.cache  # noqa: B019 - one Renderer per session; the cache is the point
    def _batch(self, os_name, architecture, minion, product, group):
        result = self.show_sls(os_name, architecture, minion, ",".join(group), product)
        if isinstance(result, dict):
            return {name: _own_states(result, name) for name in group}
        if len(group) == 1:
            return {group[0]: result}
        # Alternatives (app.apache / app.nginx) conflict when rendered together, and a broken SLS
        # fails the whole batch: set the SLS an error names aside, render it alone, batch the rest.
        aside = _named_in_errors(result, group) or set(group[len(group) // 2 :])
        rest = tuple(name for name in group if name not in aside)
        out = {}
        if rest:
            out.update(self._batch(os_name, architecture, minion, product, rest))
        for name in sorted(aside):
            out.update(self._batch(os_name, architecture, minion, product, (name,)))
        return out

    def show_sls(self, os_name, architecture, minion_id, sls, product=None, override=None):
        """show_sls of `sls` on minion_id; `override` (a fileshare pillar) is merged over the site's."""
        caller = self._caller(os_name)
        caller.opts["id"] = minion_id
        caller.opts["grains"]["id"] = minion_id
        caller.opts["grains"]["host"] = minion_id
        caller.opts["fileshare_example_architecture"] = architecture
        data = product_pillar(product) if product else {}
        # Salt merges a call's pillar over the compiled one recursively, as a site's own keys would be.
        data.update(copy.deepcopy(override or {}))
        kwargs = {"pillar": {"fileshare": data}} if data else {}
        return caller.cmd("state.show_sls", sls, **kwargs)

    def apply_template(self, os_name, text, context):
        """A jinja template's text rendered by Salt's own file.apply_template_on_contents with `context`."""
        out = self._caller(os_name).cmd(
            "file.apply_template_on_contents",
            text,
            template="jinja",
            context=context,
            defaults={},
            saltenv="base",
        )
        assert isinstance(out, str) and "Traceback" not in out, out
        return out

    def placed(self, os_name, high):
        """
        {state ID: what the state puts on the node} of a show_sls result: for a file.managed from a jinja
        template the file as Salt renders it with the state's context (the context itself is not on the
        node), for any other state its arguments as JSON.
        """
        out = {}
        for state_id, chunk in high.items():
            if not isinstance(chunk, dict):
                continue
            for module, body in chunk.items():
                if module.startswith("__") or not isinstance(body, list):
                    continue
                fun, args = _args(body)
                template = template_path(args.get("source")) if args.get("template") == "jinja" else None
                if f"{module}.{fun}" == "file.managed" and template:
                    context = args.get("context") or {}
                    out[state_id] = self.apply_template(os_name, template.read_text(), context)
                else:
                    out[state_id] = json.dumps(args, sort_keys=True, default=str)
        return out


def _named_in_errors(errors, group):
    """The SLS of the group that render errors blame: the second of a conflicting pair, a failed one."""
    blamed = set()
    for error in errors:
        names = re.findall(r"SLS '(?:\w+:)?([\w.]+)'", str(error))
        if "conflicting ID" in str(error) and len(names) >= 2:
            names = names[1:2]
        blamed.update(name for name in names[:1] if name in group)
    return blamed


def _own_states(high, sls):
    return {
        state_id: chunk
        for state_id, chunk in high.items()
        # `__extend__` (a list) is not a state.
        if isinstance(chunk, dict)
        and (chunk.get("__sls__") == sls or str(chunk.get("__sls__", "")).startswith(sls + "."))
    }


def template_path(source):
    """The file a file.managed `source` (a salt:// URL or a files_switch list) resolves to in file_roots."""
    candidates = source if isinstance(source, list) else [source]
    for url in candidates:
        if not isinstance(url, str) or not url.startswith("salt://"):
            continue
        for root in (REPO / "formulas", REPO / "orchestrate"):
            path = root / url[len("salt://") :]
            if path.is_file():
                return path
    return None


def product_pillar(product):
    """What a site switching to another product adds: the product and its artifact with checksum."""
    data = {"product": product}
    if product != "webdav":
        data["artifacts"] = {
            product: {
                "url": f"http://10.77.0.1:3143/artifacts/{product}.tar.bz2",
                "sha256": "0" * 64,
                "version": "0.0.0",
            }
        }
    return data


# ---- reading what a rendered highstate names ---------------------------------------------------------


def _args(body):
    args = {}
    fun = None
    for item in body:
        if isinstance(item, str):
            fun = item
        elif isinstance(item, dict):
            args.update(item)
    return fun, args


def named(high):
    """{'pkgs': set, 'services': set, 'files': set, 'states': {(mod.fun)}} named by a show_sls result."""
    out = {"pkgs": set(), "services": set(), "files": set(), "states": set()}
    for state_id, chunk in high.items():
        for module, body in chunk.items():
            if module.startswith("__") or not isinstance(body, list):
                continue
            fun, args = _args(body)
            out["states"].add(f"{module}.{fun}")
            name = args.get("name", state_id)
            if module == "pkg":
                pkgs = args.get("pkgs") or [name]
                for pkg in pkgs:
                    out["pkgs"].add(next(iter(pkg)) if isinstance(pkg, dict) else str(pkg))
            elif module == "service":
                out["services"].add(str(name))
            elif module in ("file", "ini", "x509", "mount") and str(name).startswith("/"):
                out["files"].add(str(name))
    return out


def render_errors(result):
    if isinstance(result, list):
        return result
    if not isinstance(result, dict):
        return [repr(result)]
    return []
