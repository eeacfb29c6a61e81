{#- App layer: the app server (Apache httpd by default, nginx for PHP products), the php-fpm pool that
    PHP products and the health endpoint run on, the product itself (products/<product>.sls) and the
    deep health endpoint at /health. Apache listens on loopback (and on the node address where a
    separate load balancer must reach it) on fileshare:ports:app, never on the front's HTTP/HTTPS
    ports: the load layer is the TLS front. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}

{%- set shared_storage = not fileshare.single_host
      and (fileshare.storage.backend or 'glusterfs') == 'glusterfs' %}
{%- set sls_storage_client = tplroot ~ '.storage.client' %}

include:
{%- if shared_storage %}
  {#- HA: the data directory is the shared GlusterFS volume; mounted before anything uses it. #}
  - {{ sls_storage_client }}
{%- endif %}
  - .php
  - .{{ fileshare.app.server }}
  - .products
  - .health
{%- if shared_storage %}

extend:
  PHP-FPM is running and enabled:
    service:
      - require:
        - sls: {{ sls_storage_client }}
{%-   if fileshare.app.server == 'apache' %}
  Apache httpd is running and enabled:
    service:
      - require:
        - sls: {{ sls_storage_client }}
{%-   endif %}
{%- endif %}
