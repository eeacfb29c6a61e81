{#- An all_in_one site in a Docker container converged by Kitchen (salt_solo). It differs from
    pillar/sites/example only where a container differs from a lab node: its address and subnet are
    the container's own (Docker picks them), its package mirror is Debian's, and its Python mirror is
    the wheel folder tests/kitchen/wheel-mirror.sh serves inside the container before salt-call runs.
    Secrets are throw-away test values. -#}
{%- set address = salt['network.ip_addrs']() | first %}
{%- set ns = namespace(subnet='') %}
{%- for subnet in salt['network.subnets']() if salt['network.ip_in_subnet'](address, subnet) %}
{%-   set ns.subnet = subnet %}
{%- endfor %}
fileshare:
  site: kitchen
  domain: kitchen.test
  product: webdav
  architecture: all_in_one
  network:
    subnet: {{ ns.subnet }}
  # all_in_one: users reach the node itself.
  vip:
    address: {{ address }}
    name: files
  nodes:
    - name: {{ grains['id'] }}
      address: {{ address }}
      roles: [load, app, db, intermediate, storage, infra]
  mirrors:
    apt: http://deb.debian.org/debian
    apt_security: http://deb.debian.org/debian-security
    python: http://127.0.0.1:3143/wheels/
  load:
    tls:
      lab_ca: true
    dns:
      recursion_allowed: [127.0.0.1]
  app:
    server: apache
    data_dir: /srv/fileshare/data
  db:
    engine: mariadb
    name: fileshare
    user: fileshare
  intermediate: {}
  storage:
    volume: fileshare
  infra: {}
  secrets:
    db_root_password: kitchen-root-pw
    db_password: kitchen-db-pw
    redis_password: kitchen-redis-pw
    tsig_key: a2l0Y2hlbi10c2lnLWtleS1mb3ItdGVzdHMtb25seSEhIQ==
    backup_password: kitchen-backup-pw
    webdav_users:
      alice: kitchen-alice-pw
