{#- nginx as the TLS front: TLS 1.2/1.3 only on the node's address, HTTP redirected to HTTPS, a
    per-client request rate limit (429 on excess), and a reverse proxy to the app servers that keeps
    WebDAV intact (every method and header passes, bodies stream unbuffered in both directions, no
    size limit). The main nginx.conf is managed too, so the distribution's default site (HTTP on
    every address) is gone. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- from tplroot ~ "/load/settings.jinja" import load with context %}
{%- set nginx = fileshare.nginx %}
{%- set sls_tls = tplroot ~ '.load.tls' %}

include:
  - {{ sls_tls }}

nginx (TLS front) is installed:
  pkg.installed:
    - pkgs: {{ nginx.pkgs | json }}

nginx's main configuration is managed:
  file.managed:
    - name: {{ nginx.main_config }}
    - source: {{ files_switch(['nginx.conf.jinja'], lookup='nginx-main') }}
    - template: jinja
    - mode: '0644'
    - context:
        nginx: {{ nginx | json }}
    - require:
      - pkg: nginx (TLS front) is installed

The TLS front is configured:
  file.managed:
    - name: {{ nginx.conf_d }}/fileshare-front.conf
    - source: {{ files_switch(['nginx-front.conf.jinja'], lookup='nginx-front') }}
    - template: jinja
    - mode: '0644'
    - context:
        load: {{ load | json }}
        log_dir: {{ nginx.log_dir }}
    - require:
      - pkg: nginx (TLS front) is installed

nginx (TLS front) configuration is valid:
  cmd.run:
    - name: nginx -t -q
    - onchanges:
      - file: nginx's main configuration is managed
      - file: The TLS front is configured
    - require:
      - sls: {{ sls_tls }}

{#- The package starts nginx with its default site on the HTTP port of every address. A reload cannot
    trade that wildcard socket for <node address>:<the same port> (the kernel refuses the bind while
    the wildcard listens) and nginx -s reload still exits 0, so the first switch to the managed
    nginx.conf is a restart. Later changes reload. #}
nginx (TLS front) takes over its listening addresses:
  cmd.run:
    - name: systemctl restart {{ nginx.service }}
    - onchanges:
      - file: nginx's main configuration is managed
    - require:
      - cmd: nginx (TLS front) configuration is valid

nginx (TLS front) is running and enabled:
  service.running:
    - name: {{ nginx.service }}
    - enable: True
    - reload: True
    - require:
      - cmd: nginx (TLS front) configuration is valid
      - cmd: nginx (TLS front) takes over its listening addresses
    - watch:
      - file: The TLS front is configured
      # A new certificate or key (tls.sls: the site's own or the lab CA's) is reloaded.
      - sls: {{ sls_tls }}
