{#- The site's release on a Galera member (HA architectures): MariaDB restarts on a release change, so
    the node runs what its release says, and is waited for until Synced again. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set sls_release = tplroot ~ '.infra.release' %}
{%- set release = fileshare.get('release', {}) %}
{%- set name = (release.get('name', '') if release is mapping else '') | string %}
{%- if not fileshare.topology.single_host %}

include:
  - {{ sls_release }}

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
      - sls: {{ sls_release }}

This Galera member is Synced again:
  galera.synced:
    - name: {{ fileshare.topology.names.galera_cluster }}
    - timeout: 300
    - require:
      - cmd: MariaDB restarts into the release
{%- endif %}
