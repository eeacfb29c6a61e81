{#- The database layer. all_in_one: MariaDB standalone, installed and configured as ownCloud requires,
    root secured, then the product's database and user. HA architectures: a MariaDB Galera member
    (fileshare.db.galera.bootstrap runs first on the first db node; this SLS joins the others one at a
    time), root secured, the product's database and user (replicated), the health responder. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
include:
{%- if fileshare.single_host %}
  - .mariadb
{%- else %}
  - .galera.join
{%- endif %}
  - .secure
  - .database
