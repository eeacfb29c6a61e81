{#- Root is secured the way mysql_secure_installation would: a password from the site's secrets (kept in
    root's 0600 my.cnf, which every mysql_* state here connects with), no anonymous users, no root from
    other hosts, no test database. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{#- The server this secures: standalone (all_in_one: running) or a Galera member (HA: Synced). On Galera
    root's password is the cluster's (replicated): root's my.cnf is written before the server starts,
    so a joining member, whose socket login the replicated password replaced, is reached with it. #}
{%- set sls_mariadb = tplroot ~ ('.db.mariadb' if fileshare.single_host else '.db.galera') %}
{#- Required by the resource, not by SLS: db.galera includes this file, and Salt 3008 counts an SLS's
    included states as its own (`- sls: fileshare.db.galera` here would require these very states). #}
{%- set server_ready = {'service': fileshare.mariadb.service} if fileshare.single_host
                       else {'galera': fileshare.topology.names.galera_cluster} %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- set mariadb = fileshare.mariadb %}
{%- set secrets = fileshare.secrets if fileshare.secrets is mapping else {} %}
{%- set remote_hosts = ['%', '127.0.0.1', '::1'] %}
{#- Measured in the lab: on a Galera member just started (bootstrapped, or joined by rsync SST), one
    connection a second after it is Synced failed with "Can't connect ... (Errno 2)" while the next one
    0.1 s later worked: the first statements after the start retry. #}
{%- set just_started_retry = {'attempts': 3, 'interval': 2} %}
{%- for host in [grains.get('host'), grains.get('fqdn'), grains.get('id')] %}
{%-   if host and host not in remote_hosts and host != 'localhost' %}{% do remote_hosts.append(host) %}{% endif %}
{%- endfor %}

include:
  - {{ sls_mariadb }}

{%- if mariadb.get('debian_cnf') %}

Debian's maintenance scripts log in with root's credentials:
  file.managed:
    - name: {{ mariadb.debian_cnf }}
    - source: {{ files_switch(['root.my.cnf.jinja'], lookup='mariadb-debian-cnf') }}
    - template: jinja
    - user: root
    - group: root
    - mode: '0600'
    - show_changes: False
    - require:
      - mysql_user: MariaDB root has the site's password
    - context:
        password_key: db_root_password
        socket: {{ mariadb.socket | json }}
{%- endif %}

# Connects with root's my.cnf when it exists (the current password), else as OS root over the socket
# (Debian's unix_socket login on a fresh server). The password is set before my.cnf is rewritten, so
# changing db_root_password in pillar rotates it instead of locking Salt out.
MariaDB root has the site's password:
  mysql_user.present:
    - name: root
    - host: localhost
    - password: {{ secrets.get('db_root_password', '') | json }}
    - connection_default_file: {{ mariadb.root_cnf }}
    - connection_user: root
    - connection_unix_socket: {{ mariadb.socket }}
    - require:
      - {{ server_ready | json }}
{%- if not fileshare.single_host %}
    - retry: {{ just_started_retry | json }}
{%- endif %}

root's MariaDB client credentials are in place:
  file.managed:
    - name: {{ mariadb.root_cnf }}
    - source: {{ files_switch(['root.my.cnf.jinja'], lookup='mariadb-root-cnf') }}
    - template: jinja
    - user: root
    - group: root
    - mode: '0600'
    - show_changes: False
{%- if fileshare.single_host %}
    - require:
      - mysql_user: MariaDB root has the site's password
{%- endif %}
    - context:
        password_key: db_root_password
        socket: {{ mariadb.socket | json }}

{%- for host in remote_hosts %}

MariaDB root cannot log in from {{ host }}:
  mysql_user.absent:
    - name: root
    - host: {{ host | json }}
    - connection_default_file: {{ mariadb.root_cnf }}
    - require:
      - file: root's MariaDB client credentials are in place
      - mysql_user: MariaDB root has the site's password
{%- if not fileshare.single_host %}
    - retry: {{ just_started_retry | json }}
{%- endif %}
{%- endfor %}

{%- for host in ['localhost'] + remote_hosts[3:] %}

MariaDB has no anonymous user at {{ host }}:
  mysql_user.absent:
    - name: ''
    - host: {{ host | json }}
    - connection_default_file: {{ mariadb.root_cnf }}
    - require:
      - file: root's MariaDB client credentials are in place
      - mysql_user: MariaDB root has the site's password
{%- if not fileshare.single_host %}
    - retry: {{ just_started_retry | json }}
{%- endif %}
{%- endfor %}

MariaDB has no test database:
  mysql_database.absent:
    - name: test
    - connection_default_file: {{ mariadb.root_cnf }}
    - require:
      - file: root's MariaDB client credentials are in place
      - mysql_user: MariaDB root has the site's password
{%- if not fileshare.single_host %}
    - retry: {{ just_started_retry | json }}
{%- endif %}
