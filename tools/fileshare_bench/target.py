"""Where the load goes: a site's service name, its VIP, the CA that signs its certificate, a user."""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field


class BenchError(Exception):
    """A refusal with one clear message (bad argument, lab not up)."""


@dataclass
class Target:
    fqdn: str  # the name users use (SNI, Host header, certificate check)
    address: str  # where to connect: the VIP
    ca_file: str | None  # PEM of the CA that signs the site's certificate (None: system CAs)
    user: str
    password: str = field(repr=False)
    port: int = 443

    @property
    def url(self) -> str:
        return f"https://{self.fqdn}/"

    @classmethod
    def from_lab(cls, lab_name: str, user: str = "alice") -> Target:
        """The example site's service in lab LAB_NAME: VIP, lab CA (read from a load node) and USER's password
        (from the lab master's pillar)."""
        from fileshare_lab import host as labhost  # the lab tool is only needed for labs
        from fileshare_lab import topology

        try:
            lab = labhost.Lab(lab_name)
            saved = lab.require_up()
            site = topology.of_lab(lab)
        except labhost.LabError as exc:
            raise BenchError(str(exc)) from exc
        if not site["vip"]["address"]:
            raise BenchError(
                f"lab {lab_name} runs {saved.get('architecture')}, which has no VIP: deploy full_ha"
            )
        loads = site["roles"]["load"]
        pem = _node_output(lab, loads[0], ["cat", "/etc/fileshare/pki/lab-ca.crt"])
        if "BEGIN CERTIFICATE" not in pem:
            raise BenchError(f"no lab CA on {loads[0]} of lab {lab_name}: has `converge` run?")
        with tempfile.NamedTemporaryFile(
            "w", prefix="fileshare-bench-ca-", suffix=".crt", delete=False
        ) as fh:
            fh.write(pem)
        users = _pillar(lab, loads[0], "fileshare:secrets:webdav_users")
        if user not in users:
            raise BenchError(f"--user: {user!r} is not a WebDAV user of lab {lab_name}")
        return cls(
            fqdn=site["vip"]["fqdn"],
            address=site["vip"]["address"],
            ca_file=fh.name,
            user=user,
            password=users[user],
        )


def _node_output(lab, node: str, cmd: list[str]) -> str:
    from fileshare_lab import containers, logic

    return containers.attach(lab, logic.container_name(lab.name, node), cmd, timeout=60).stdout


def _pillar(lab, node: str, key: str) -> dict:
    argv = lab.salt_cmd("salt") + [
        node,
        "pillar.get",
        key,
        "unmask=True",
        "--out=json",
        "--static",
        "-t",
        "60",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    try:
        return json.loads(proc.stdout).get(node) or {}
    except ValueError as exc:
        raise BenchError(
            f"cannot read {key} from the master of lab {lab.name}: {proc.stderr.strip()}"
        ) from exc
