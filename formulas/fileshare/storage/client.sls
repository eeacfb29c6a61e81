{#- The app nodes' view of the shared volume (HA architectures; fileshare.app includes it): a FUSE
    mount of fileshare:storage:volume at fileshare:storage:mount_point, which holds the data directory
    and the WebDAV lock database. The app services depend on the mount twice: in Salt (fileshare.app
    requires the mount state) and in systemd (a drop-in with Requires=/After= on the mount unit), so
    neither Salt nor a reboot starts Apache or php-fpm on an empty local directory. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set storage = fileshare.storage %}
{%- set mount_point = storage.mount_point.rstrip('/') %}
{%- set servers = [] %}
{%- for node in fileshare.nodes if 'storage' in node.get('roles', []) %}{% do servers.append(node.address) %}{% endfor %}
{%- set backup = ['backup-volfile-servers=' ~ servers[1:] | join(':')] if servers | length > 1 else [] %}
{#- No kernel-side caching of names and attributes either: another app node may have just changed them. #}
{%- set fuse_opts = backup + ['entry-timeout=0', 'attribute-timeout=0', 'negative-timeout=0'] %}
{#- systemd's name for the mount unit (systemd-escape --path). #}
{%- set mount_unit = mount_point.strip('/') | replace('-', '\\x2d') | replace('/', '-') ~ '.mount' %}
{%- set services = [fileshare.php.fpm_service] %}
{%- if fileshare.app.server == 'apache' %}{% do services.append(fileshare.apache.service) %}{% endif %}

{%- if not (fileshare.app.data_dir ~ '/').startswith(mount_point ~ '/') or not servers %}

the data directory lies on the shared volume:
  test.fail_without_changes:
    - name: >-
        fileshare:app:data_dir ({{ fileshare.app.data_dir }}) must lie under fileshare:storage:mount_point
        ({{ mount_point }}), and fileshare:nodes needs storage nodes ({{ servers | length }} found)
{%- else %}

GlusterFS client is installed:
  pkg.installed:
    - pkgs: {{ fileshare.glusterfs.client_pkgs | json }}

# The first storage node serves the volume's layout; the others stand in when it is down at mount time.
volume {{ storage.volume }} is mounted at {{ mount_point }}:
  mount.mounted:
    - name: {{ mount_point }}
    - device: {{ servers[0] }}:/{{ storage.volume }}
    - fstype: glusterfs
    - opts: {{ (['defaults', '_netdev'] + fuse_opts) | join(',') }}
    # The kernel's mount table never shows the FUSE client's own options: without this, Salt would
    # see them as changed and remount (an outage) on every run.
    - extra_mount_invisible_options: {{ fuse_opts | json }}
    - mkmnt: True
    - persist: True
    - require:
      - pkg: GlusterFS client is installed
{%-   for service in services %}

{{ service }} starts only with the shared volume mounted:
  file.managed:
    - name: /etc/systemd/system/{{ service }}.service.d/fileshare-storage.conf
    - makedirs: True
    - mode: '0644'
    - contents: |
        # Managed by Salt (fileshare.storage.client): the data lives on the GlusterFS volume.
        [Unit]
        Requires={{ mount_unit }}
        After={{ mount_unit }}
    - require:
      - mount: volume {{ storage.volume }} is mounted at {{ mount_point }}
{%-   endfor %}
{%- endif %}
