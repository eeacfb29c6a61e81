{#- The whole formula for one node: the layers its roles in fileshare:nodes ask for, in deployment order.
    Orchestrations apply the layers one at a time across nodes; this is for `state.apply fileshare` on a
    single node. infra.sync comes first: it installs the Salt extensions the db layer's states need and
    reloads the modules, so the same run can use them. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set roles = fileshare.topology.node.roles %}
include:
  - {{ tplroot }}.infra.sync
  - {{ tplroot }}.infra
{%- for layer in ['db', 'intermediate', 'storage', 'app', 'load'] if layer in roles %}
  - {{ tplroot }}.{{ layer }}
{%- endfor %}
