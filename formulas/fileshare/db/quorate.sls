{#- Gate of the orchestration's database step, on every db node: this node sees a Primary component
    with every member the pillar declares, Synced, one state UUID. Changes nothing; fails with the
    verdict's reasons. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set galera = fileshare.db.get('galera', {}) %}
{%- set cluster = galera.get('cluster_name', fileshare.get('site', 'fileshare') ~ '-db') %}

The Galera cluster is quorate:
  galera.quorate:
    - name: {{ cluster }}
