{#- The GlusterFS server on storage nodes (HA architectures): glusterd and this node's brick directory.
    Peering and the replica-3 volume: storage/volume.sls (first storage node); the app nodes' mount:
    storage/client.sls (included by fileshare.app). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set glusterfs = fileshare.glusterfs %}

GlusterFS server is installed:
  pkg.installed:
    - pkgs: {{ glusterfs.server_pkgs | json }}

# Debian installs glusterd disabled.
GlusterFS daemon is running and enabled:
  service.running:
    - name: {{ glusterfs.service }}
    - enable: True
    - require:
      - pkg: GlusterFS server is installed

the brick directory for volume {{ fileshare.storage.volume }} exists:
  file.directory:
    - name: {{ glusterfs.brick_dir }}/{{ fileshare.storage.volume }}
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: True
