{#- App layer: the app server (Apache httpd by default, nginx for PHP products), the php-fpm pool that
    PHP products and the health endpoint run on, the product itself (products/<product>.sls) and the
    deep health endpoint at /health. Apache listens on loopback (and on the node address where a
    separate load balancer must reach it) on fileshare:app:port, never on 80/443: the load layer is
    the TLS front. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}

include:
  - .php
  - .{{ fileshare.app.server }}
  - .products
  - .health
