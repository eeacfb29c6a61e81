{#- Backups on the node holding role backup (fileshare.topology.roles.backup; docs/backup.md): restic
    and mariabackup, the job's configuration and password (root only), the repository, and the systemd
    timers that take a backup every day (fileshare:backup:schedule) and check the repository weekly.
    The job is the suite's _modules/fileshare_backup.py, installed as a script: the timer needs no Salt
    minion, and `salt-run state.orchestrate fileshare.backup` runs the same code through Salt. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set job = fileshare.backup_job %}
{%- set backup = fileshare.backup %}
{%- set mariadb = fileshare.mariadb %}
{%- set config = {
      'repository': backup.repository,
      'retention': backup.retention,
      'limit_kib': backup.limit_kib,
      'password_file': job.password_file,
      'host': grains.get('id', ''),
      'data_dir': fileshare.app.data_dir.rstrip('/'),
      'staging_dir': job.staging_dir,
      'restore_dir': job.restore_dir,
      'restic': job.restic,
      'mariabackup': job.mariabackup,
      'root_cnf': mariadb.root_cnf,
      'socket': mariadb.socket,
      'db_data_dir': mariadb.data_dir.rstrip('/'),
      'db_service': mariadb.service,
      'db_user': mariadb.user,
      'log_bin': mariadb.log_bin,
      'gtid_domain': 0 if fileshare.single_host else mariadb.wsrep_gtid_domain_id,
      'site_bundle': job.site_bundle,
      'mysqlbinlog': job.mysqlbinlog,
      'mariadbd': job.mariadbd,
    } %}
{%- set command = job.python ~ ' ' ~ job.script %}
{%- set topology = fileshare.topology %}
{#- On HA the backup node holds no database: the copy comes over ssh from a synced Galera member that is
    not the writer (backup_job/source.sls lets this node's key run that copy and nothing else), and the
    files are read through this node's own client mount of the volume. #}
{%- set remote = topology.node.name in topology.backup_remote %}
{#- An off-site repository (sftp:USER@HOST:/PATH) is reached with the same key, its host key pinned. #}
{%- set offsite = salt['fileshare_backup.sftp_target'](backup.repository) %}
{%- set keyed = remote or offsite %}
{%- if offsite %}
{%-   set sftp = {'key': job.ssh_key, 'known_hosts': job.sftp_known_hosts, 'port': backup.sftp.port} %}
{%-   do config.update({'sftp': sftp}) %}
{%- endif %}
{%- if remote %}
{%-   do config.update({
        'mbstream': job.mbstream,
        'db_source': {
          'key': job.ssh_key,
          'known_hosts': job.known_hosts,
          'port': topology.ports.ssh,
          'user': 'root',
          'members': [],
        },
      }) %}
{%-   for name in topology.db_writers %}
{%-     do config.db_source.members.append({'name': name, 'address': topology.by_name[name].address,
                                             'health_port': topology.ports.galera_health}) %}
{%-   endfor %}
{%- endif %}

restic, mariabackup and rsync are installed:
  pkg.installed:
    - pkgs: {{ (job.pkgs + (job.remote_pkgs if keyed else []) + (job.replay_pkgs if remote else [])) | json }}
{%- if not fileshare.single_host %}

include:
  - {{ tplroot }}.storage.client
{%- endif %}
{%- if keyed %}

# The key this node copies the database and reaches an off-site repository with; its public half
# reaches the database nodes through the Salt mine (backup_job/source.sls) and the off-site host through
# its operator (`fileshare-backup public-key`); the private half never leaves this node.
the backup node's ssh key exists:
  fileshare_cmd.run:
    - name: ssh-keygen -q -t ed25519 -N '' -C fileshare-backup@{{ grains.id }} -f {{ job.ssh_key }}
    - creates: {{ job.ssh_key }}
    - require:
      - pkg: restic, mariabackup and rsync are installed
      - file: {{ job.ssh_key.rsplit('/', 1)[0] }} is private to root
{%- endif %}
{%- if offsite %}

the off-site host's key is pinned:
  file.managed:
    - name: {{ job.sftp_known_hosts }}
    - user: root
    - group: root
    - mode: '0600'
    - contents: {{ salt['fileshare_backup.known_hosts_line'](offsite.host, backup.sftp.port,
                                                             backup.sftp.host_key) | json }}
    - require:
      - file: {{ job.ssh_key.rsplit('/', 1)[0] }} is private to root
{%- endif %}
{%- if remote %}
{%-   set published = salt['mine.get'](grains.id, job.mine_key).get(grains.id) %}
{%-   set pubkey = salt['file.read'](job.ssh_key ~ '.pub') if salt['file.file_exists'](job.ssh_key ~ '.pub')
                   else '' %}
{%-   if not pubkey or published != pubkey %}

the backup node's public key is in the Salt mine:
  module.run:
    - mine.send:
      - {{ job.mine_key }}
      - {{ job.ssh_key }}.pub
      - mine_function: file.read
    - require:
      - fileshare_cmd: the backup node's ssh key exists
{%-   endif %}
{%- endif %}

the backup job's configuration is readable by root only:
  file.managed:
    - name: {{ job.config }}
    - makedirs: True
    - user: root
    - group: root
    - mode: '0600'
    - contents: {{ config | json | json }}

# contents_pillar: the password is read on the node, never part of the rendered state or its output.
the backup repository's password is in a file readable by root only:
  file.managed:
    - name: {{ job.password_file }}
    - makedirs: True
    - user: root
    - group: root
    - mode: '0600'
    - contents_pillar: fileshare:secrets:backup_password
    - show_changes: False

# The site's pillar (its configuration, secrets and keys: every certificate of the site derives from
# it or is in it) goes into every snapshot; dataset_pillar: the values are read on the node, never part
# of the rendered state, and show_changes: False keeps them out of the state's output.
the site's configuration is kept for the backup, readable by root only:
  file.serialize:
    - name: {{ job.site_bundle }}
    - dataset_pillar: fileshare
    - serializer: yaml
    - makedirs: True
    - dir_mode: '0700'
    - user: root
    - group: root
    - mode: '0600'
    - show_changes: False

the backup job is installed:
  file.managed:
    - name: {{ job.script }}
    - source: salt://_modules/fileshare_backup.py
    - user: root
    - group: root
    - mode: '0755'

{%- for dir in [job.staging_dir, job.restore_dir]
               + ([] if offsite else [backup.repository])
               + ([job.ssh_key.rsplit('/', 1)[0]] if keyed else []) %}

{{ dir }} is private to root:
  file.directory:
    - name: {{ dir }}
    - user: root
    - group: root
    - mode: '0700'
    - makedirs: True
{%- endfor %}

# A repository that exists but does not open (another password) is reported, never re-created.
the restic repository {{ backup.repository }} exists:
  fileshare_cmd.run:
    - name: {{ command }} init
    - unless: {{ command }} probe
    - require:
      - pkg: restic, mariabackup and rsync are installed
      - file: {{ job.config }}
      - file: {{ job.password_file }}
      - file: {{ job.script }}
{%- if offsite %}
      - fileshare_cmd: the backup node's ssh key exists
      - file: {{ job.sftp_known_hosts }}
{%- else %}
      - file: {{ backup.repository }}
{%- endif %}

{#- The binary logs are archived every binlog_interval minutes: a point-in-time restore reaches up to the
    last archive when the database is lost with its logs. #}
{%- set every = '*:0/' ~ backup.binlog_interval if backup.binlog_interval < 60
                else '*-*-* 0/' ~ (backup.binlog_interval // 60) ~ ':00:00' %}
{%- for unit, what, schedule in [(job.service, 'run', backup.schedule),
                                  (job.check_service, 'check', job.check_schedule),
                                  (job.binlog_service, 'binlogs', every)] %}

{{ unit }}.service runs the backup job's {{ what }}:
  file.managed:
    - name: /etc/systemd/system/{{ unit }}.service
    - mode: '0644'
    - contents: |
        # Managed by Salt (fileshare.backup_job). A failure leaves the unit failed, its reason in the journal.
        [Unit]
        Description=fileshare backup job: {{ what }}
        After=network-online.target {{ mariadb.service }}.service
        [Service]
        Type=oneshot
        ExecStart={{ command }} {{ what }}
        Nice=10
        IOSchedulingClass=idle
        PrivateTmp=true

{{ unit }}.timer fires {{ schedule }}:
  file.managed:
    - name: /etc/systemd/system/{{ unit }}.timer
    - mode: '0644'
    - contents: |
        # Managed by Salt (fileshare.backup_job).
        [Unit]
        Description=fileshare backup job: {{ what }}, {{ schedule }}
        [Timer]
        OnCalendar={{ schedule }}
        RandomizedDelaySec={{ 30 if what == 'binlogs' else 600 }}
        Persistent=true
        [Install]
        WantedBy=timers.target
  service.running:
    - name: {{ unit }}.timer
    - enable: True
    - require:
      - fileshare_cmd: the restic repository {{ backup.repository }} exists
      - file: /etc/systemd/system/{{ unit }}.service
    - watch:
      - file: /etc/systemd/system/{{ unit }}.timer
{%- endfor %}
