{#- Step 1 of the database layer on HA, on the FIRST db node only: the Galera cluster is started here
    when no member runs a Primary component. A no-op while this node is in the Primary component; when
    the other members run one (this node was rebuilt or restarted), it joins them instead — never a
    second bootstrap. After a full outage pick the node with the galera.recover runner. Then the
    product's database and user (created once, replicated to every member). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- set sls_galera = tplroot ~ '.db.galera' %}
{%- set sls_database = tplroot ~ '.db.database' %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set cluster = fileshare.topology.names.galera_cluster %}
{#- The first writer starts the cluster (the one HAProxy sends writes to while it is up). #}
{%- set first = fileshare.topology.db_writers %}

include:
  - {{ sls_galera }}
  - {{ sls_database }}

The Galera cluster runs (bootstrapped on {{ first | first }} once, joined otherwise):
  galera.bootstrapped:
    - name: {{ cluster }}
    - node: {{ first | first }}
    - service: {{ fileshare.mariadb.service }}
    - timeout: 300
    - require:
      - file: MariaDB Galera settings are managed
      - file: root's MariaDB client credentials are in place
    - require_in:
      - galera: This node is Synced in the Galera cluster
