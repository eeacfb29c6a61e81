{#- Seam for the HA architectures: the GlusterFS server on storage nodes, ready for a replica-3 volume.
    Peering, the volume and the clients' mount of fileshare:app:data_dir come with mini_ha/full_ha; the
    layers after storage only rely on the data directory existing and being writable by the web user. -#}
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
