{#- The site's release on a load node of an HA architecture: HAProxy sends X-Fileshare-Release-Load
    (haproxy.cfg reads fileshare:release:name; haproxy.sls reloads on the change). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- if not fileshare.topology.single_host %}

include:
  - {{ tplroot }}.load.haproxy
{%- endif %}
