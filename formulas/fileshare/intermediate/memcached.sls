{#- Memcached: ownCloud's local cache. Its configuration format differs by family (the map says which). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- set memcached = fileshare.memcached %}
{%- set settings = fileshare.intermediate.memcached %}

Memcached is installed:
  pkg.installed:
    - pkgs: {{ memcached.pkgs | json }}

Memcached configuration is managed:
  file.managed:
    - name: {{ memcached.config }}
    - source: {{ files_switch(['memcached-' ~ memcached.config_format ~ '.jinja'], lookup='memcached-config') }}
    - template: jinja
    - makedirs: True
    - mode: '0644'
    - require:
      - pkg: Memcached is installed
    - context:
        listen: {{ fileshare.private_listen | json }}
        port: {{ fileshare.topology.ports.memcached }}
        memory_mb: {{ settings.memory_mb }}
        max_connections: {{ settings.max_connections }}
        user: {{ memcached.user | json }}
        logfile: {{ memcached.logfile | json }}

Memcached is running and enabled:
  service.running:
    - name: {{ memcached.service }}
    - enable: True
    - watch:
      - file: Memcached configuration is managed
