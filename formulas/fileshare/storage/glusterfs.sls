{#- The GlusterFS server on storage nodes (HA architectures): glusterd and this node's brick directory.
    Peering and the replica-3 volume: storage/volume.sls (first storage node); the app nodes' mount:
    storage/client.sls (included by fileshare.app). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set glusterfs = fileshare.glusterfs %}

GlusterFS server is installed:
  pkg.installed:
    - pkgs: {{ glusterfs.server_pkgs | json }}

{#- Restarting glusterd (the management daemon: a release, a configuration change) must not take this
    node's bricks and self-heal daemon down with it. Debian's unit stops its whole control group
    (KillMode=control-group): measured in the lab, each storage node's planned glusterd restart
    restarted its brick, the app nodes lost a replica for a moment, and every write meanwhile had to
    be healed (~20 s of heals and 2x latency per node). Upstream's unit kills glusterd alone. #}
glusterd leaves the bricks running when it restarts:
  file.managed:
    - name: /etc/systemd/system/{{ glusterfs.service }}.service.d/fileshare.conf
    - makedirs: True
    - mode: '0644'
    - contents: |
        # Managed by Salt (fileshare.storage.glusterfs): a glusterd restart keeps the bricks serving.
        [Service]
        KillMode=process
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: glusterd leaves the bricks running when it restarts

# Debian installs glusterd disabled.
GlusterFS daemon is running and enabled:
  service.running:
    - name: {{ glusterfs.service }}
    - enable: True
    - require:
      - pkg: GlusterFS server is installed
      - cmd: glusterd leaves the bricks running when it restarts

the brick directory for volume {{ fileshare.topology.names.volume }} exists:
  file.directory:
    - name: {{ glusterfs.brick_dir }}/{{ fileshare.topology.names.volume }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True
