{#- The site's release on an intermediate node (HA architectures): Redis, Sentinel and Memcached
    restart on a release change, so the node runs what its release says. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set sls_release = tplroot ~ '.infra.release' %}
{%- if not fileshare.topology.single_host %}

include:
  - {{ sls_release }}
{%-   for service in [fileshare.redis.service, fileshare.sentinel.service, fileshare.memcached.service] %}

{{ service }} restarts into the release:
  cmd.run:
    - name: systemctl restart {{ service }}
    - onchanges:
      - sls: {{ sls_release }}
{%-   endfor %}
{%- endif %}
