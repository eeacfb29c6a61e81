{#- Redis with a password from the site's secrets; its configuration holds that password, so it is
    readable only by Redis (0640) and never shown in state output. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- set redis = fileshare.redis %}
{%- set settings = fileshare.intermediate.redis %}
{%- set secrets = fileshare.secrets if fileshare.secrets is mapping else {} %}

Redis is installed:
  pkg.installed:
    - pkgs: {{ redis.pkgs | json }}

Redis configuration is managed:
  file.managed:
    - name: {{ redis.config }}
    - source: {{ files_switch(['redis.conf.jinja'], lookup='redis-config') }}
    - template: jinja
    - user: {{ redis.user }}
    - group: {{ redis.group }}
    - mode: '0640'
    - show_changes: False
    - require:
      - pkg: Redis is installed
    - context:
        listen: {{ fileshare.private_listen | json }}
        port: {{ settings.port }}
        password_key: redis_password
        maxmemory_mb: {{ settings.maxmemory_mb }}
        pidfile: {{ redis.pidfile | json }}
        logfile: {{ redis.logfile | json }}
        data_dir: {{ redis.data_dir | json }}

Redis is running and enabled:
  service.running:
    - name: {{ redis.service }}
    - enable: True
    - watch:
      - file: Redis configuration is managed
