{#- nginx as the app server: the alternative for PHP products (ownCloud). It serves the health endpoint
    and the product's PHP through the fileshare php-fpm pool on fileshare:ports:app. The product drops
    its locations into <conf_d>/fileshare-app.d/product.conf. WebDAV needs Apache's mod_dav: nginx's
    own WebDAV has no dead properties and no locks, so products/webdav.sls refuses this server. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- from tplroot ~ "/app/settings.jinja" import app with context %}
{%- set nginx = fileshare.nginx %}
{%- set snippet_dir = nginx.config_dir ~ '/fileshare-app.d' %}

include:
  - .packages

The product directory exists:
  file.directory:
    - name: {{ app.product_dir }}
    - mode: '0755'

nginx's fileshare app snippet directory exists:
  file.directory:
    - name: {{ snippet_dir }}
    - mode: '0755'
    - require:
      - sls: {{ tplroot }}.app.packages

The fileshare nginx app server is configured:
  file.managed:
    - name: {{ nginx.conf_d }}/fileshare-app.conf
    - source: {{ files_switch(['nginx-app.conf.jinja'], lookup='nginx-app') }}
    - template: jinja
    - mode: '0644'
    - context:
        app: {{ app | json }}
        snippet_dir: {{ snippet_dir }}
        log_dir: {{ nginx.log_dir }}
    - require:
      - file: nginx's fileshare app snippet directory exists

nginx (app server) configuration is valid:
  cmd.run:
    - name: nginx -t -q
    - onchanges:
      - file: The fileshare nginx app server is configured
    - require_in:
      - service: nginx (app server) is running and enabled

nginx (app server) is running and enabled:
  service.running:
    - name: {{ nginx.service }}
    - enable: True
    - reload: True
    - watch:
      - sls: {{ tplroot }}.app.packages
      - file: The fileshare nginx app server is configured
