{#- The intermediate layer: Redis (ownCloud's file locking and distributed cache, password protected)
    and Memcached (local cache). Both listen only where their clients are. HA architectures: the first
    intermediate node's Redis starts as master, the others as its replicas, and a Sentinel on each
    node fails over (fileshare.intermediate.quorate is the orchestration's gate). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
include:
  - .redis
{%- if not fileshare.single_host %}
  - .sentinel
{%- endif %}
  - .memcached
