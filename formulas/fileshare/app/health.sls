{#- The deep health endpoint, /health, on every app node: PHP on the fileshare php-fpm pool (the pool
    ownCloud would use). 200 only when the product database accepts a write (a row in the small
    fileshare_health table), Redis answers an authenticated PING and the data directory is writable;
    503 with a JSON body naming what failed otherwise. Load balancers and the lab tests use it.
    Its secrets live in a PHP file readable by root and the php-fpm group only, outside any web root.
    The app server routes /health here (apache.sls; nginx-app.conf). HAProxy's node check
    (/health?scope=node) reads the data directory's state from the data watch, a loop below. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- from tplroot ~ "/app/settings.jinja" import app with context %}
{%- set php = fileshare.php %}
{%- set sls_php = app.sls.php %}
{%- set sls_server = tplroot ~ '.app.' ~ fileshare.app.server %}
{%- set watch = 'fileshare-data-watch' %}

include:
  - {{ sls_php }}
  - {{ sls_server }}

The health endpoint script is installed:
  file.managed:
    - name: {{ app.health_dir }}/health.php
    - source: {{ files_switch(['health.php.jinja'], lookup='health-php') }}
    - template: jinja
    - makedirs: True
    - user: root
    - group: root
    - mode: '0644'
    - context:
        config: {{ app.health_config }}

The health endpoint's configuration is managed:
  file.managed:
    - name: {{ app.health_config }}
    - source: {{ files_switch(['health-config.php.jinja'], lookup='health-config') }}
    - template: jinja
    - makedirs: True
    - dir_mode: '0755'
    - user: root
    - group: {{ php.group }}
    - mode: '0640'
    - show_changes: False
    - context:
        node: {{ fileshare.node.name }}
        db: {{ app.db | json }}
        redis: {{ app.redis | json }}
        data_dir: {{ fileshare.app.data_dir }}
        {#- The WebDAV engine behind Apache, where there is one: a node whose engine is down must leave
            HAProxy's rotation. #}
        engine: {{ ({'host': '127.0.0.1', 'port': app.webdav_port}
                    if fileshare.product == 'webdav' and app.webdav_engine == 'wsgidav' else none) | json }}
        data_watch: {{ {'file': '/run/' ~ watch ~ '/last', 'grace': fileshare.app.health.data_grace} | json }}
    - require:
      # The file belongs to the php-fpm group.
      - sls: {{ sls_php }}

# The node check reads what this loop last wrote (health.php says why); it runs as the web user, who
# owns the data directory.
The data watch is installed:
  file.managed:
    - name: /usr/local/libexec/{{ watch }}
    - source: {{ files_switch(['data-watch.sh.jinja'], lookup='data-watch') }}
    - template: jinja
    - makedirs: True
    - mode: '0755'
    - context:
        data_dir: {{ fileshare.app.data_dir }}
        node: {{ fileshare.node.name }}

The data watch's unit is installed:
  file.managed:
    - name: /etc/systemd/system/{{ watch }}.service
    - mode: '0644'
    - contents: |
        # Managed by Salt (fileshare.app.health).
        [Unit]
        Description=fileshare data watch (what HAProxy's node check reads)
        After=remote-fs.target
        [Service]
        ExecStart=/usr/local/libexec/{{ watch }}
        User={{ fileshare.web.user }}
        RuntimeDirectory={{ watch }}
        RuntimeDirectoryMode=0755
        Restart=always
        RestartSec=1
        [Install]
        WantedBy=multi-user.target

The data watch runs:
  service.running:
    - name: {{ watch }}
    - enable: True
    - watch:
      - file: /usr/local/libexec/{{ watch }}
      - file: /etc/systemd/system/{{ watch }}.service
