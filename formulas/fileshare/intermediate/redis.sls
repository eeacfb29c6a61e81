{#- Redis with a password from the site's secrets; its configuration holds that password, so it is
    readable only by Redis (0640) and never shown in state output.
    HA architectures: Salt manages the settings in their own file (redis:ha_config), and the main
    config, which includes it, is seeded once (replicaof the master Sentinel reports, else the first
    intermediate node) and then belongs to Redis and Sentinel, which rewrite it on failover. So a state
    run after a failover changes nothing and never points a replica back at the old master. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- set redis = fileshare.redis %}
{%- set settings = fileshare.intermediate.redis %}
{%- set secrets = fileshare.secrets if fileshare.secrets is mapping else {} %}
{%- set ha = not fileshare.single_host %}
{#- Redis makes its outgoing connections (replication, Sentinel links) from the FIRST bind address:
    on HA that must be the node's own address, not loopback. #}
{%- set listen = fileshare.private_listen | reverse | list if ha else fileshare.private_listen %}
{%- set ports = fileshare.topology.ports %}
{%- set masters = fileshare.topology.addresses.intermediate %}

Redis is installed:
  pkg.installed:
    - pkgs: {{ redis.pkgs | json }}

Redis configuration is managed:
  file.managed:
    - name: {{ redis.ha_config if ha else redis.config }}
    - source: {{ files_switch(['redis.conf.jinja'], lookup='redis-config') }}
    - template: jinja
    - user: {{ redis.user }}
    - group: {{ redis.group }}
    - mode: '0640'
    - show_changes: False
    - require:
      - pkg: Redis is installed
    - context:
        listen: {{ listen | json }}
        masterauth: {{ ha | json }}
        port: {{ ports.redis }}
        password_key: redis_password
        maxmemory_mb: {{ settings.maxmemory_mb }}
        pidfile: {{ redis.pidfile | json }}
        logfile: {{ redis.logfile | json }}
        data_dir: {{ redis.data_dir | json }}

{%- if ha %}

Redis main config is seeded (then Redis and Sentinel own it):
  fileshare_redis.seeded:
    - name: {{ redis.config }}
    - kind: redis
    - address: {{ fileshare.node.address }}
    - initial_master: {{ (masters or [fileshare.node.address]) | first }}
    - port: {{ ports.redis }}
    - sentinel_port: {{ ports.sentinel }}
    - lines: ['include {{ redis.ha_config }}']
    - user: {{ redis.user }}
    - group: {{ redis.group }}
    - require:
      - pkg: Redis is installed
{%- endif %}

Redis is running and enabled:
  service.running:
    - name: {{ redis.service }}
    - enable: True
    - watch:
      - file: Redis configuration is managed
{%- if ha %}
      - fileshare_redis: Redis main config is seeded (then Redis and Sentinel own it)
{%- endif %}
