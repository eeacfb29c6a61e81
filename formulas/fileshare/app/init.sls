{#- App layer: the app server (Apache httpd by default, nginx for PHP products), the php-fpm pool that
    PHP products and the health endpoint run on, the product itself (products/<product>.sls) and the
    deep health endpoint at /health. Apache listens on loopback (and on the node address where a
    separate load balancer must reach it) on fileshare:ports:app, never on the front's HTTP/HTTPS
    ports: the load layer is the TLS front. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/app/settings.jinja" import app with context %}

include:
  {#- HA: the data directory is the shared GlusterFS volume; mounted before anything uses it (php.sls
      and the app server require it). #}
{%- for sls in app.sls.mounts %}
  - {{ sls }}
{%- endfor %}
  - .php
  - .{{ fileshare.app.server }}
  - .products
  - .health
