{#- The Galera health responder (clustercheck convention, on fileshare:ports:galera_health) that
    HAProxy asks before it routes to a database node: 200 only when this node is Synced (Donor too
    when the pillar's fileshare:db:galera:health:allow_donor is true). It reuses the galera Salt module's own verdict:
    the module file is installed beside the script. Include it on Galera nodes after MariaDB. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{#- Paths: overridable with pillar fileshare:lookup:galera_health. The port is the topology's: HAProxy,
    the firewall and the database peers (galera module) ask the same one. -#}
{%- set health = salt['slsutil.merge']({
      'dir': '/usr/local/lib/fileshare',
      'unit': '/etc/systemd/system/fileshare-galera-health.service',
      'service': 'fileshare-galera-health',
    }, fileshare.get('galera_health', {})) %}
{%- do health.update({'port': fileshare.topology.ports.galera_health}) %}
{%- set allow_donor = fileshare.get('db', {}).get('galera', {}).get('health', {}).get('allow_donor', False) %}
{%- set bind = fileshare.topology.node.address if not fileshare.topology.single_host else '127.0.0.1' %}

Galera health responder program is installed:
  file.managed:
    - name: {{ health.dir }}/galera-health.py
    - source: salt://{{ tplroot }}/db/files/galera-health.py
    - makedirs: True
    - mode: '0755'

Galera health responder uses the Salt module's verdict:
  file.managed:
    - name: {{ health.dir }}/galera_logic.py
    - source: salt://_modules/galera.py
    - makedirs: True
    - mode: '0644'

Galera health responder service is defined:
  file.managed:
    - name: {{ health.unit }}
    - mode: '0644'
    - contents: |
        [Unit]
        Description=Galera health responder for load balancers (port {{ health.port }})
        After=network-online.target {{ fileshare.mariadb.service }}.service

        [Service]
        User={{ fileshare.mariadb.user }}
        ExecStart={{ grains['pythonexecutable'] }} {{ health.dir }}/galera-health.py \
          --bind {{ bind }} --port {{ health.port }} \
          --logic {{ health.dir }}/galera_logic.py{{ ' --allow-donor' if allow_donor else '' }}
        Restart=always
        RestartSec=2

        [Install]
        WantedBy=multi-user.target

Galera health responder is running:
  service.running:
    - name: {{ health.service }}
    - enable: True
    - watch:
      - file: Galera health responder program is installed
      - file: Galera health responder uses the Salt module's verdict
      - file: Galera health responder service is defined
