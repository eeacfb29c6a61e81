{#- WebDAV (class 1 and 2: dead properties and locks) serving fileshare:app:data_dir to the users in
    fileshare:secrets:webdav_users (HTTP Basic over the TLS front, checked by Apache). Two engines
    (fileshare:app:webdav:engine, docs/webdav.md says why):
      mod_dav  Apache's mod_dav + mod_dav_fs (all_in_one default): dead properties beside the files,
               locks in a DBM file on the same filesystem; correct for ONE node only.
      wsgidav  WsgiDAV on loopback behind Apache (HA default): locks and dead properties in the site's
               Redis, keyed by URI, so every app node honours a lock another granted. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- from tplroot ~ "/app/settings.jinja" import app with context %}
{%- set apache = fileshare.apache %}
{%- set lock_dir = app.lock_db.rsplit('/', 1)[0] %}
{%- set wsgidav = fileshare.wsgidav %}
{%- set mirrors = fileshare.mirrors if fileshare.mirrors is mapping else {} %}

{%- if fileshare.app.server != 'apache' %}

WebDAV needs Apache httpd as the app server:
  test.fail_without_changes:
    - name: >-
        fileshare:product 'webdav' is built on Apache httpd's mod_dav (dead properties, locks);
        set fileshare:app:server to 'apache' (it is '{{ fileshare.app.server }}')
{%- else %}
{%-   set sls_apache = tplroot ~ '.app.apache' %}

{#- Apache (apache.sls) enables app.apache_modules, which holds the engine's modules, and checks its
    configuration and restarts when a state here changes: nothing here names Apache's states. Its
    package comes first (included first), so its group exists for the files below. #}
include:
  - {{ sls_apache }}

The WebDAV data directory exists:
  file.directory:
    - name: {{ fileshare.app.data_dir }}
    - user: {{ apache.user }}
    - group: {{ apache.group }}
    - mode: '0750'
    - makedirs: True


{#- Hashes are SHA-512 crypt(3), which Apache accepts on Linux. The salt is derived from the site and
    the user (not random) so that an unchanged password renders an unchanged file: a second run reports
    no change. The file never shows in output (show_changes: False). #}
The WebDAV users' password file is managed:
  file.managed:
    - name: {{ app.htpasswd }}
    - user: root
    - group: {{ apache.group }}
    - mode: '0640'
    - show_changes: False
    - source: {{ files_switch(['htpasswd.jinja'], lookup='webdav-htpasswd') }}
    - template: jinja

{%-   if app.webdav_engine == 'mod_dav' %}

The WebDAV lock database directory exists:
  file.directory:
    - name: {{ lock_dir }}
    - user: {{ apache.user }}
    - group: {{ apache.group }}
    - mode: '0750'
    - makedirs: True

WebDAV is served by Apache mod_dav:
  file.managed:
    - name: {{ apache.config_dir }}/fileshare.d/50-product.conf
    - source: {{ files_switch(['apache-webdav.conf.jinja'], lookup='apache-webdav') }}
    - template: jinja
    - mode: '0644'
    - makedirs: True
    - context:
        app: {{ app | json }}
        data_dir: {{ fileshare.app.data_dir }}
        php_socket_dir: {{ fileshare.php.socket_dir }}
    - require:
      - file: The WebDAV data directory exists
      - file: The WebDAV lock database directory exists
      - file: The WebDAV users' password file is managed
{%-   elif not mirrors.get('python') %}

WsgiDAV needs the site's Python mirror:
  test.fail_without_changes:
    - name: 'fileshare:mirrors:python is not set: the wsgidav engine installs only from the site mirror'
{%-   else %}

The WsgiDAV server program is in place:
  file.managed:
    - name: {{ wsgidav.venv }}/fileshare_wsgidav.py
    - source: {{ files_switch(['fileshare_wsgidav.py'], lookup='wsgidav-program') }}
    - mode: '0644'
    - require:
      - sls: {{ tplroot }}.app.packages

{#- Holds the Redis password: read from pillar inside the template, never shown. #}
The WsgiDAV configuration is managed:
  file.managed:
    - name: {{ wsgidav.config }}
    - source: {{ files_switch(['wsgidav.yaml.jinja'], lookup='wsgidav-config') }}
    - template: jinja
    - user: root
    - group: {{ apache.group }}
    - mode: '0640'
    - makedirs: True
    - show_changes: False
    - context:
        wsgidav: {{ wsgidav | json }}
        port: {{ app.webdav_port }}
        data_dir: {{ fileshare.app.data_dir }}
        redis: {{ app.redis | json }}

The WsgiDAV service unit is installed:
  file.managed:
    - name: /etc/systemd/system/{{ wsgidav.service }}.service
    - source: {{ files_switch(['fileshare-webdav.service.jinja'], lookup='wsgidav-unit') }}
    - template: jinja
    - mode: '0644'
    - context:
        wsgidav: {{ wsgidav | json }}
        data_dir: {{ fileshare.app.data_dir }}
        user: {{ apache.user }}
        group: {{ apache.group }}

WsgiDAV is running and enabled:
  service.running:
    - name: {{ wsgidav.service }}
    - enable: True
    - require:
      - file: The WebDAV data directory exists
    - watch:
      - sls: {{ tplroot }}.app.packages
      - file: The WsgiDAV server program is in place
      - file: The WsgiDAV configuration is managed
      - file: The WsgiDAV service unit is installed

WebDAV is served by WsgiDAV behind Apache:
  file.managed:
    - name: {{ apache.config_dir }}/fileshare.d/50-product.conf
    - source: {{ files_switch(['apache-webdav-proxy.conf.jinja'], lookup='apache-webdav-proxy') }}
    - template: jinja
    - mode: '0644'
    - makedirs: True
    - context:
        app: {{ app | json }}
        wsgidav: {{ wsgidav | json }}
        port: {{ app.webdav_port }}
    - require:
      - file: The WebDAV users' password file is managed
      - service: WsgiDAV is running and enabled
{%-   endif %}
{%- endif %}
