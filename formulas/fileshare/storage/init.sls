{#- The storage layer: where user files live. all_in_one keeps them in a local directory; the HA
    architectures put them on a GlusterFS replica-3 volume (fileshare:storage:backend overrides). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set backend = fileshare.storage.backend or ('local' if fileshare.single_host else 'glusterfs') %}
include:
  - .{{ backend }}
