{#- Functional test of the galera module (tests/lab/test_galera_functional.py): MariaDB + Galera on every
    db node of the lab's pillar, configured but NOT started and not started at boot, so the test decides
    which node bootstraps (galera.bootstrapped) and when the others join (galera.joined); plus the
    formula's own health responder. The members come from the site's topology (the test syncs the
    suite's modules first). -#}
{%- set topology = salt['fileshare_topology.get']() %}
{%- set members = topology.addresses.db %}
{%- set me = topology.node %}

include:
  - fileshare.db.galera_health

MariaDB and Galera are installed:
  pkg.installed:
    - pkgs: [mariadb-server, mariadb-client, galera-4, rsync]
    - refresh: True

# Debian starts MariaDB on install, as a standalone server: stop it before it is a Galera node.
MariaDB started by the package is stopped:
  service.dead:
    - name: mariadb
    - enable: False
    - onchanges:
      - pkg: MariaDB and Galera are installed

MariaDB is not started at boot (the test restarts killed nodes itself):
  service.disabled:
    - name: mariadb
    - require:
      - pkg: MariaDB and Galera are installed

MariaDB is a Galera node:
  file.managed:
    - name: /etc/mysql/mariadb.conf.d/99-galera-test.cnf
    - source: salt://tests/lab/files/galera.cnf.jinja
    - template: jinja
    - context:
        cluster: fstest
        members: {{ members | json }}
        address: {{ me.address }}
    - require:
      - service: MariaDB started by the package is stopped

extend:
  Galera health responder is running:
    service.running:
      - require:
        - pkg: MariaDB and Galera are installed
