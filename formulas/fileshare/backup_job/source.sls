{#- On each Galera member of an HA site: the backup node's key may run the database copy's commands
    here, and nothing else (docs/backup.md): `fileshare-backup ssh-command`, forced by the key's entry in
    root's authorized_keys (restrict: no shell, no forwarding, no pty; from: the backup node only), runs
    `stream-db` (the member desyncs from flow control, mariabackup streams to the backup node, the member
    resyncs) or, for a site restore with MariaDB stopped, `receive-db` (a restored copy becomes the
    datadir).
    The public key comes from the Salt mine, where fileshare.backup_job on the backup node puts it. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set job = fileshare.backup_job %}
{%- set mariadb = fileshare.mariadb %}
{%- set topology = fileshare.topology %}
{%- set holders = topology.roles.backup %}
{#- The backup node itself when it is a member (mini_ha): its job's configuration serves both. #}
{%- set holds_job = topology.node.name in holders %}
{%- set published = salt['mine.get'](holders | join(','), job.mine_key, tgt_type='list') if holders else {} %}
{%- set keys = [] %}
{%- for holder in holders if published.get(holder) %}
{%-   do keys.append(published[holder].split()) %}
{%- endfor %}

{%- if not holders or keys | length != holders | length %}

the backup node's public key is published:
  test.fail_without_changes:
    - name: >-
        no public key of the backup node {{ holders | join(', ') or '(none: no node holds role backup)' }} is
        in the Salt mine ({{ job.mine_key }}): apply fileshare.backup_job there first
{%- else %}

the database copy's tools and sshd are installed:
  pkg.installed:
    - pkgs: {{ job.source_pkgs | json }}

sshd runs for the backup node's copy:
  service.running:
    - name: {{ job.ssh_service }}
    - enable: True
    - require:
      - pkg: the database copy's tools and sshd are installed

{%-   if not holds_job %}

the copy's configuration is readable by root only:
  file.managed:
    - name: {{ job.config }}
    - makedirs: True
    - user: root
    - group: root
    - mode: '0600'
    - contents: {{ {'mariabackup': job.mariabackup, 'root_cnf': mariadb.root_cnf, 'socket': mariadb.socket,
                    'db_data_dir': mariadb.data_dir.rstrip('/'), 'db_service': mariadb.service,
                    'db_user': mariadb.user, 'log_bin': mariadb.log_bin} | json | json }}
{%-   endif %}

the backup job is installed:
  file.managed:
    - name: {{ job.script }}
    - source: salt://_modules/fileshare_backup.py
    - user: root
    - group: root
    - mode: '0755'
{%-   for enc, key, comment in keys %}

the backup node's key may run the database copy and nothing else ({{ comment }}):
  ssh_auth.present:
    - name: {{ key }}
    - user: root
    - enc: {{ enc }}
    - comment: {{ comment }}
    - options: {{ salt['fileshare_backup.authorized_options'](job.python ~ ' ' ~ job.script,
                                                                topology.addresses.backup) | json }}
    - require:
      - file: {{ job.script }}
{%-     if not holds_job %}
      - file: {{ job.config }}
{%-     endif %}
{%-   endfor %}
{%- endif %}
