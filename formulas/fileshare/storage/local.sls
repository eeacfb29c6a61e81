{#- The data directory on the node's own disk (all_in_one). The web server's user owns it: Apache
    mod_dav and the php-fpm pool both run as that user. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}

the data directory exists, owned by the web server's user:
  file.directory:
    - name: {{ fileshare.app.data_dir }}
    - user: {{ fileshare.web.user }}
    - group: {{ fileshare.web.group }}
    - mode: '0750'
    - makedirs: True
