{#- MariaDB: package, the server settings ownCloud requires, the service. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- set mariadb = fileshare.mariadb %}

MariaDB server is installed:
  pkg.installed:
    - pkgs: {{ mariadb.pkgs | json }}

{%- if mariadb.needs_install_db %}

# Arch's package leaves the data directory empty (Debian's and EL's create the system tables).
MariaDB system tables exist:
  fileshare_cmd.run:
    - name: mariadb-install-db --user={{ mariadb.user }} --basedir=/usr --datadir={{ mariadb.data_dir }}
    - creates: {{ mariadb.data_dir }}/mysql
    - require:
      - pkg: MariaDB server is installed
    - require_in:
      - service: MariaDB is running and enabled
{%- endif %}

# ownCloud: utf8mb4 (4-byte UTF-8), READ-COMMITTED isolation, and binary logging in ROW format.
MariaDB server settings for the file share are managed:
  file.managed:
    - name: {{ mariadb.config_file }}
    - source: {{ files_switch(['mariadb.cnf.jinja'], lookup='mariadb-config') }}
    - template: jinja
    - mode: '0644'
    - require:
      - pkg: MariaDB server is installed
    - context:
        bind_address: {{ fileshare.private_listen | last | json }}
        port: {{ fileshare.topology.ports.db }}
        log_bin: {{ mariadb.log_bin | json }}
        socket: {{ mariadb.socket | json }}
        server_id: 1

MariaDB is running and enabled:
  service.running:
    - name: {{ mariadb.service }}
    - enable: True
    - watch:
      - file: MariaDB server settings for the file share are managed
