{#- Gate of the orchestration's database step, on every db node: this node sees a Primary component
    with every member the pillar declares, Synced, one state UUID. Changes nothing; fails with the
    verdict's reasons. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set cluster = fileshare.topology.names.galera_cluster %}

The Galera cluster is quorate:
  galera.quorate:
    - name: {{ cluster }}
