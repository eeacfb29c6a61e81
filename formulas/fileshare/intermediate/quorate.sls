{#- Gate of the orchestration's intermediate step: every intermediate node's Sentinel reports the same
    Redis master, it is a master, and every other intermediate node is its replica, online. Waits up to
    a minute (Sentinels discover each other through the master in a few seconds); changes nothing and
    fails naming what is wrong. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}

The Sentinels agree on one Redis master with every replica online:
  fileshare_redis.quorate:
    - name: {{ fileshare.topology.names.sentinel_master }}
    - port: {{ fileshare.topology.ports.sentinel }}
    - retry:
        attempts: 30
        interval: 2
