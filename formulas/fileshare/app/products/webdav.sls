{#- WebDAV on Apache httpd's mod_dav + mod_dav_fs (class 1 and 2: dead properties and locks) serving
    fileshare:app:data_dir to the users in fileshare:secrets:webdav_users (HTTP Basic over the TLS
    front). Dead properties live beside the files (mod_dav_fs's .DAV directories); the lock database
    lives on the same filesystem as the data (fileshare:app:webdav:lock_db, default
    <data_dir>/../davlock/lockdb) so that app nodes sharing one data directory share the locks too
    (docs/webdav.md says why). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- from tplroot ~ "/app/settings.jinja" import app with context %}
{%- set apache = fileshare.apache %}
{%- set lock_dir = app.lock_db.rsplit('/', 1)[0] %}

{%- if fileshare.app.server != 'apache' %}

WebDAV needs Apache httpd as the app server:
  test.fail_without_changes:
    - name: >-
        fileshare:product 'webdav' is built on Apache httpd's mod_dav (dead properties, locks);
        set fileshare:app:server to 'apache' (it is '{{ fileshare.app.server }}')
{%- else %}
{%-   set sls_apache = tplroot ~ '.app.apache' %}

include:
  - {{ sls_apache }}

The WebDAV data directory exists:
  file.directory:
    - name: {{ fileshare.app.data_dir }}
    - user: {{ apache.user }}
    - group: {{ apache.group }}
    - mode: '0750'
    - makedirs: True

The WebDAV lock database directory exists:
  file.directory:
    - name: {{ lock_dir }}
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
    - require:
      - pkg: Apache httpd is installed
    - watch_in:
      - service: Apache httpd is running and enabled

WebDAV is served by Apache mod_dav:
  file.managed:
    - name: {{ apache.config_dir }}/fileshare.d/50-product.conf
    - source: {{ files_switch(['apache-webdav.conf.jinja'], lookup='apache-webdav') }}
    - template: jinja
    - mode: '0644'
    - context:
        app: {{ app | json }}
        data_dir: {{ fileshare.app.data_dir }}
        php_socket_dir: {{ fileshare.php.socket_dir }}
    - require:
      - file: Apache's fileshare snippet directory exists
      - file: The WebDAV data directory exists
      - file: The WebDAV lock database directory exists
      - file: The WebDAV users' password file is managed
    - require_in:
      - cmd: Apache httpd configuration is valid
    - watch_in:
      - service: Apache httpd is running and enabled
{%- endif %}
