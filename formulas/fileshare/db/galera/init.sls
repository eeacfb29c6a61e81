{#- A MariaDB Galera member (HA architectures): packages, the Galera settings from the pillar's db
    nodes, the server enabled at boot (a restarted member rejoins by itself), the health responder that
    HAProxy asks, and the gate "this node is Synced". Starting the server is the job of
    fileshare.db.galera.bootstrap (first db node) or fileshare.db.galera.join (the others): a Galera
    server must never be started blindly. A later change of these settings is applied by a rolling
    restart (galera.safe_to_take_down first), never by Salt restarting every member at once. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- set sls_secure = tplroot ~ '.db.secure' %}
{%- set sls_health = tplroot ~ '.db.galera_health' %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- set mariadb = fileshare.mariadb %}
{%- set cluster = fileshare.topology.names.galera_cluster %}
{%- set members = fileshare.topology.addresses.db %}

include:
  - {{ sls_secure }}
  - {{ sls_health }}

MariaDB and Galera are installed:
  pkg.installed:
    - pkgs: {{ (mariadb.pkgs + mariadb.galera_pkgs) | json }}

{%- if mariadb.needs_install_db %}

MariaDB system tables exist before Galera starts:
  fileshare_cmd.run:
    - name: mariadb-install-db --user={{ mariadb.user }} --basedir=/usr --datadir={{ mariadb.data_dir }}
    - creates: {{ mariadb.data_dir }}/mysql
    - require:
      - pkg: MariaDB and Galera are installed
    - require_in:
      - file: MariaDB Galera settings are managed
{%- endif %}

# Debian starts a standalone server on install: it is stopped before this node becomes a member.
MariaDB started by the package as a standalone server is stopped:
  service.dead:
    - name: {{ mariadb.service }}
    - onchanges:
      - pkg: MariaDB and Galera are installed

MariaDB Galera settings are managed:
  file.managed:
    - name: {{ mariadb.config_file }}
    - source: {{ files_switch(['galera.cnf.jinja'], lookup='galera-config') }}
    - template: jinja
    - mode: '0644'
    - require:
      - service: MariaDB started by the package as a standalone server is stopped
    - context:
        bind_addresses: {{ fileshare.private_listen | json }}
        log_bin: {{ mariadb.log_bin | json }}
        socket: {{ mariadb.socket | json }}
        server_id: 1
        provider: {{ mariadb.wsrep_provider | json }}
        cluster: {{ cluster | json }}
        members: {{ members | json }}
        ports: {{ fileshare.topology.ports | json }}
        address: {{ fileshare.node.address | json }}
        node_name: {{ fileshare.node.name | json }}
        evs: {{ fileshare.db.evs | json }}
        gtid_domain: {{ mariadb.wsrep_gtid_domain_id }}
        # Events a member writes outside Galera get a domain of the member's own.
        local_gtid_domain: {{ 100 + members.index(fileshare.node.address) + 1
                              if fileshare.node.address in members else 100 }}

MariaDB starts at boot and rejoins its cluster:
  service.enabled:
    - name: {{ mariadb.service }}
    - require:
      - file: MariaDB Galera settings are managed

This node is Synced in the Galera cluster:
  galera.synced:
    - name: {{ cluster }}
    - timeout: 300
    - require:
      - file: MariaDB Galera settings are managed

extend:
  Galera health responder is running:
    service.running:
      - require:
        - pkg: MariaDB and Galera are installed
