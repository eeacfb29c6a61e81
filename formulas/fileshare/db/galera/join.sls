{#- The other db nodes, one at a time: MariaDB started so it joins the running cluster (IST, or SST by
    rsync from a donor), then Synced. A no-op on a member already in the Primary component. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- set sls_galera = tplroot ~ '.db.galera' %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set cluster = fileshare.topology.names.galera_cluster %}

include:
  - {{ sls_galera }}

This node has joined the Galera cluster:
  galera.joined:
    - name: {{ cluster }}
    - service: {{ fileshare.mariadb.service }}
    - timeout: 300
    - require:
      - file: MariaDB Galera settings are managed
      - file: root's MariaDB client credentials are in place
    - require_in:
      - galera: This node is Synced in the Galera cluster
