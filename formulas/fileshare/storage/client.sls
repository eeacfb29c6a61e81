{#- The app nodes' view of the shared volume (HA architectures; fileshare.app includes it): a FUSE
    mount of fileshare:storage:volume at fileshare:storage:mount_point, which holds the data directory
    and the WebDAV lock database. The app services depend on the mount twice: in Salt (fileshare.app
    requires the mount state) and in systemd (a drop-in with Requires=/After= on the mount unit), so
    neither Salt nor a reboot starts Apache or php-fpm on an empty local directory. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- set storage = fileshare.storage %}
{%- set mount_point = storage.mount_point.rstrip('/') %}
{%- set servers = fileshare.topology.addresses.storage %}
{%- set volume = fileshare.topology.names.volume %}
{%- set mount_watch = 'fileshare-mount-watch' %}
{%- set backup = ['backup-volfile-servers=' ~ servers[1:] | join(':')] if servers | length > 1 else [] %}
{#- No kernel-side caching of names and attributes either: another app node may have just changed them.
    direct-io-mode: no kernel page cache for file data. Measured on the lab kernel: a rewrite of the same
    size on another app node updates the size and mtime this node sees but not its cached pages (FUSE
    invalidates them only on a size change), so a GET served the previous content 48 times in 50. The
    fix that keeps the cache (fopen-keep-cache=false) cannot be passed: Debian 12's mount.glusterfs
    turns it into --fopen-keep-cache==false and refuses to mount. #}
{%- set fuse_opts = backup + ['entry-timeout=0', 'attribute-timeout=0', 'negative-timeout=0',
                             'direct-io-mode=enable'] %}
{#- A FUSE client running with every option above has each on its command line as --<option>, in
    mount.glusterfs's order, not ours (backup-volfile-servers becomes --volfile-server arguments). #}
{%- set fuse_client_checks = [] %}
{%- for opt in fuse_opts if not opt.startswith('backup-volfile-servers=') %}
{%-   do fuse_client_checks.append("pgrep -f -- 'glusterfs .*--" ~ opt ~ " .*" ~ mount_point ~ "$'") %}
{%- endfor %}
{#- systemd's name for the mount unit (systemd-escape --path). #}
{%- set mount_unit = mount_point.strip('/') | replace('-', '\\x2d') | replace('/', '-') ~ '.mount' %}
{#- The app services wait for the mount; a backup node mounts the volume too and runs none of them. #}
{%- set services = [fileshare.php.fpm_service] if 'app' in fileshare.topology.node.roles else [] %}
{%- if services and fileshare.app.server == 'apache' %}{% do services.append(fileshare.apache.service) %}{% endif %}

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
volume {{ volume }} is mounted at {{ mount_point }}:
  mount.mounted:
    - name: {{ mount_point }}
    - device: {{ servers[0] }}:/{{ volume }}
    - fstype: glusterfs
    - opts: {{ (['defaults', '_netdev'] + fuse_opts) | join(',') }}
    # The kernel's mount table never shows the FUSE client's own options: without this, Salt would
    # see them as changed and remount (an outage) on every run.
    - extra_mount_invisible_options: {{ fuse_opts | json }}
    - mkmnt: True
    - persist: True
    - require:
      - pkg: GlusterFS client is installed

{#- The FUSE client's options are invisible to mount.mounted, so a node mounted before an option was
    added keeps running without it: remount it. Lazy, because Apache and WsgiDAV hold files open; they
    open every file anew per request, so new requests see the new mount. #}
the volume's FUSE client runs with the current mount options:
  fileshare_cmd.run:
    - name: umount -l {{ mount_point }} && mount {{ mount_point }}
    - unless: {{ fuse_client_checks | join(' && ') | json }}
    - require:
      - mount: volume {{ volume }} is mounted at {{ mount_point }}

{#- A wedged FUSE client hangs every file operation of the node until someone kills it: the mount
    watch does, once the storage is known to be there (files/default/mount-watch.sh.jinja). #}
the mount watch is installed:
  file.managed:
    - name: /usr/local/libexec/{{ mount_watch }}
    - source: {{ files_switch(['mount-watch.sh.jinja'], lookup='mount-watch') }}
    - template: jinja
    - makedirs: True
    - mode: '0755'
    - context:
        mount_point: {{ mount_point | json }}
        mount_unit: {{ mount_unit | json }}
        node: {{ fileshare.node.name | json }}
        servers: {{ servers | json }}
        port: {{ fileshare.topology.ports.glusterd }}
        stall: {{ storage.mount_watch.stall }}
        every: {{ storage.mount_watch.every }}
        probe_timeout: {{ storage.mount_watch.probe_timeout }}

the mount watch's unit is installed:
  file.managed:
    - name: /etc/systemd/system/{{ mount_watch }}.service
    - mode: '0644'
    - contents: |
        # Managed by Salt (fileshare.storage.client).
        [Unit]
        Description=fileshare mount watch (remounts a wedged GlusterFS client)
        After=remote-fs.target
        [Service]
        ExecStart=/usr/local/libexec/{{ mount_watch }}
        RuntimeDirectory={{ mount_watch }}
        RuntimeDirectoryMode=0755
        Restart=always
        RestartSec=1
        [Install]
        WantedBy=multi-user.target

the mount watch runs:
  service.running:
    - name: {{ mount_watch }}
    - enable: True
    - watch:
      - file: the mount watch is installed
      - file: the mount watch's unit is installed
    - require:
      - mount: volume {{ volume }} is mounted at {{ mount_point }}
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
      - mount: volume {{ volume }} is mounted at {{ mount_point }}
{%-   endfor %}
{%- endif %}
