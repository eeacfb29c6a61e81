{#- The product's database (utf8mb4) and its user, allowed from the app nodes only, with rights on that
    database only. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- set sls_secure = tplroot ~ '.db.secure' %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set mariadb = fileshare.mariadb %}
{%- set db = fileshare.db %}
{%- set secrets = fileshare.secrets if fileshare.secrets is mapping else {} %}

include:
  - {{ sls_secure }}

the {{ db.name }} database exists in utf8mb4:
  mysql_database.present:
    - name: {{ db.name }}
    - character_set: utf8mb4
    - collate: utf8mb4_general_ci
    - connection_default_file: {{ mariadb.root_cnf }}
    - require:
      - sls: {{ sls_secure }}

{%- for host in fileshare.app_hosts %}

the {{ db.user }} user can log in from {{ host }}:
  mysql_user.present:
    - name: {{ db.user }}
    - host: {{ host | json }}
    - password: {{ secrets.get('db_password', '') | json }}
    - connection_default_file: {{ mariadb.root_cnf }}
    - require:
      - sls: {{ sls_secure }}

the {{ db.user }} user from {{ host }} has all rights on {{ db.name }} only:
  mysql_grants.present:
    - grant: all privileges
    - database: {{ db.name }}.*
    - user: {{ db.user }}
    - host: {{ host | json }}
    - connection_default_file: {{ mariadb.root_cnf }}
    - require:
      - mysql_database: the {{ db.name }} database exists in utf8mb4
      - mysql_user: the {{ db.user }} user can log in from {{ host }}
{%- endfor %}
