{#- Redis Sentinel on every intermediate node (HA architectures): watches the Redis master, quorum 2
    by default, and promotes a replica when the master is gone. Its config file is seeded once (the
    master the running Sentinels report, else the first intermediate node) and then rewritten by
    Sentinel itself (known peers and replicas, failovers): Salt never rewrites it afterwards. It holds
    the Redis password (auth-pass): mode 0640, owner redis, never shown in state output. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- set sls_redis = tplroot ~ '.intermediate.redis' %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set redis = fileshare.redis %}
{%- set sentinel = fileshare.sentinel %}
{%- set ports = fileshare.topology.ports %}
{%- set master_name = fileshare.topology.names.sentinel_master %}
{#- down-after 1000 ms, not less: right after a failover each Sentinel reconnects to the new master
    at most once a second (its fixed ping period), and a down-after below that took the new master for
    down and started a second failover (redis/redis#8607; a CI run lost its master twice at 500 ms). #}
{%- set settings = salt['slsutil.merge']({
      'quorum': 2,
      'down_after_ms': 1000,
      'failover_timeout_ms': 60000,
    }, fileshare.intermediate.get('sentinel', {})) %}
{%- set masters = fileshare.topology.addresses.intermediate %}

include:
  - {{ sls_redis }}

{%- if sentinel.pkgs %}

Redis Sentinel is installed:
  pkg.installed:
    - pkgs: {{ sentinel.pkgs | json }}
    - require_in:
      - fileshare_redis: Sentinel config is seeded (then Sentinel owns it)
{%- endif %}

Sentinel config is seeded (then Sentinel owns it):
  fileshare_redis.seeded:
    - name: {{ sentinel.config }}
    - kind: sentinel
    - address: {{ fileshare.node.address }}
    - initial_master: {{ (masters or [fileshare.node.address]) | first }}
    - master_name: {{ master_name }}
    - port: {{ ports.redis }}
    - sentinel_port: {{ ports.sentinel }}
    - quorum: {{ settings.quorum }}
    - user: {{ redis.user }}
    - group: {{ redis.group }}
    - lines:
      - port {{ ports.sentinel }}
      # The node's own address first: Sentinel connects out from its first bind address.
      - bind {{ fileshare.private_listen | reverse | join(' ') }}
      - daemonize no
      - pidfile {{ sentinel.pidfile }}
      - logfile {{ sentinel.logfile }}
      - dir {{ sentinel.data_dir }}
    - after:
      - sentinel down-after-milliseconds {{ master_name }} {{ settings.down_after_ms }}
      - sentinel failover-timeout {{ master_name }} {{ settings.failover_timeout_ms }}
      - sentinel parallel-syncs {{ master_name }} 1
    - require:
      - sls: {{ sls_redis }}

Redis Sentinel is running and enabled:
  service.running:
    - name: {{ sentinel.service }}
    - enable: True
    - watch:
      - fileshare_redis: Sentinel config is seeded (then Sentinel owns it)

# The seed's settings are those of the day it was written: a later pillar change reaches the running
# Sentinel here (SENTINEL SET; Sentinel writes it to its own file).
Sentinel watches the Redis master with the site's settings:
  fileshare_redis.sentinel_set:
    - name: {{ master_name }}
    - address: {{ fileshare.node.address }}
    - port: {{ ports.sentinel }}
    - settings:
        down-after-milliseconds: {{ settings.down_after_ms }}
        failover-timeout: {{ settings.failover_timeout_ms }}
        parallel-syncs: 1
        quorum: {{ settings.quorum }}
    - require:
      - service: Redis Sentinel is running and enabled
