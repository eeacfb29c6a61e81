{%- from "sites/example/network.jinja" import net with context %}
fileshare:
  # all_in_one | mini_ha | full_ha : which reference architecture this site runs.
  architecture: all_in_one
  network:
    # The nodes' subnet (CIDR). The VIP and every node address must lie inside it.
    subnet: {{ net }}.0/24
  # The address users reach. On all_in_one it is the single node's own address (no VRRP).
  vip:
    address: {{ net }}.11
    # Users' name for the service: <name>.<domain>
    name: files
  # Every node of the site: name = Salt minion id and host name; roles = the layers it runs.
  nodes:
    - name: aio1
      address: {{ net }}.11
      roles: [load, app, db, intermediate, storage, infra]
