{#- The site's release on this node (fileshare:release): its name, and the exact package versions it
    pins. Applying it changes every layer the node carries, and restarts what must restart:
      - packages: apt pins the release's versions; installed ones move to them (the package's own
        maintainer scripts restart its service);
      - app: the web server sends X-Fileshare-Release-App (reload), php-fpm reads fileshare.release
        (reload); load: HAProxy sends X-Fileshare-Release-Load (fileshare.load.haproxy, reload);
      - db, intermediate, storage: MariaDB, Redis, Sentinel, Memcached and glusterd restart on a release
        change, so a node runs what its release says, not what it started with.
    Applied by fileshare.rolling_upgrade one node at a time, after the node was taken out of service
    (drained, in maint, no longer the Redis master, not holding the VIP). Applying it on every node at
    once is the naive way the benchmark compares with. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set release = fileshare.get('release', {}) %}
{%- set release = release if release is mapping else {} %}
{%- set name = release.get('name', '') | string %}
{%- set packages = release.get('packages', {}) %}
{%- set packages = packages if packages is mapping else {} %}
{%- set roles = fileshare.topology.node.roles %}
{%- set ha = not fileshare.single_host %}
{%- set marker = '/etc/fileshare/release' %}
{%- set pins = fileshare.apt.get('preferences_dir', '/etc/apt/preferences.d') ~ '/fileshare-release' %}
{%- if 'load' in roles and ha %}
include:
  - {{ tplroot }}.load.haproxy
{%- endif %}

This node records the site's release:
  file.managed:
    - name: {{ marker }}
    - makedirs: True
    - mode: '0644'
    - contents: |
        name={{ name }}
{%- for package, version in packages | dictsort %}
        {{ package }}={{ version }}
{%- endfor %}

{%- if packages %}

{#- Priority above 1000: apt installs exactly this version, up or down, and never moves off it by itself. #}
APT holds the release's package versions:
  file.managed:
    - name: {{ pins }}
    - mode: '0644'
    - contents: |
        # Managed by Salt (fileshare.release): the versions of release {{ name }}.
{%-   for package, version in packages | dictsort %}

        Package: {{ package }}
        Pin: version {{ version }}
        Pin-Priority: 1001
{%-   endfor %}
{%-   for package, version in packages | dictsort %}

{#- Only where the package is installed: the release pins versions, each layer decides what it needs. #}
{{ package }} runs version {{ version }} of the release:
  pkg.installed:
    - name: {{ package }}
    - version: {{ version | json }}
    - refresh: True
    - onlyif: dpkg-query -W -f='${Status}' {{ package }} 2>/dev/null | grep -q 'ok installed'
    - require:
      - file: APT holds the release's package versions
    - require_in:
      - file: This node records the site's release
{%-   endfor %}
{%- else %}

APT holds no release pins:
  file.absent:
    - name: {{ pins }}
{%- endif %}

{%- if 'app' in roles %}
{%-   set php = fileshare.php %}
{%-   if fileshare.app.server == 'nginx' %}

The web server names the release in its answers:
  file.managed:
    - name: {{ fileshare.nginx.config_dir }}/fileshare-app.d/fileshare-release.conf
    - mode: '0644'
    - contents: 'add_header X-Fileshare-Release-App "{{ name }}" always;'

The web server serves the release:
  service.running:
    - name: {{ fileshare.nginx.service }}
    - reload: True
    - watch:
      - file: The web server names the release in its answers
      - file: This node records the site's release
{%-   else %}

The web server names the release in its answers:
  file.managed:
    - name: {{ fileshare.apache.config_dir }}/fileshare.d/fileshare-release.conf
    - mode: '0644'
    - contents: 'Header always set X-Fileshare-Release-App "{{ name }}"'

The web server's configuration with the release is valid:
  cmd.run:
    - name: {{ fileshare.apache.configtest }}
    - onchanges:
      - file: The web server names the release in its answers

The web server serves the release:
  service.running:
    - name: {{ fileshare.apache.service }}
    - reload: True
    - require:
      - cmd: The web server's configuration with the release is valid
    - watch:
      - file: The web server names the release in its answers
      - file: This node records the site's release
{%-   endif %}

PHP-FPM knows the release:
  file.managed:
    - name: {{ php.conf_d }}/99-fileshare-release.ini
    - mode: '0644'
    - contents: 'fileshare.release = "{{ name }}"'

PHP-FPM runs with the release:
  service.running:
    - name: {{ php.fpm_service }}
    - reload: True
    - watch:
      - file: PHP-FPM knows the release
      - file: This node records the site's release
{%- endif %}

{%- if 'db' in roles and ha %}

MariaDB's configuration names the release:
  file.managed:
    - name: {{ fileshare.mariadb.config_dir }}/99-fileshare-release.cnf
    - mode: '0644'
    - contents: |
        # Managed by Salt (fileshare.release): release {{ name }}
        [mariadbd]

{#- A Galera member restarts only here, one node at a time under fileshare.rolling_upgrade (which
    checked galera.safe_to_take_down first); it rejoins by IST and is waited for until Synced. #}
MariaDB restarts into the release:
  cmd.run:
    - name: systemctl restart {{ fileshare.mariadb.service }}
    - onchanges:
      - file: MariaDB's configuration names the release
      - file: This node records the site's release

This Galera member is Synced again:
  galera.synced:
    - name: {{ fileshare.topology.names.galera_cluster }}
    - timeout: 300
    - require:
      - cmd: MariaDB restarts into the release
{%- endif %}

{%- if 'intermediate' in roles and ha %}
{%-   for service in [fileshare.redis.service, fileshare.sentinel.service, fileshare.memcached.service] %}

{{ service }} restarts into the release:
  cmd.run:
    - name: systemctl restart {{ service }}
    - onchanges:
      - file: This node records the site's release
{%-   endfor %}
{%- endif %}

{%- if 'storage' in roles and ha %}

{#- glusterd only: the brick processes keep serving (KillMode=process, storage/glusterfs.sls); the
    runbook still waits for heals before the next node.
    Debian's glusterd unit allows 6 starts an hour (StartLimitBurst=6, StartLimitInterval=1h): a
    planned restart clears the count first, or a site that upgraded a few times in an hour (the lab
    did) finds glusterd refused with start-limit-hit. #}
{{ fileshare.glusterfs.service }} restarts into the release:
  cmd.run:
    - name: >-
        systemctl reset-failed {{ fileshare.glusterfs.service }};
        systemctl restart {{ fileshare.glusterfs.service }}
    - onchanges:
      - file: This node records the site's release
{%- endif %}
