{#- Every service log this node writes is rotated, with the site's count and frequency. The file takes
    the distribution's own name (/etc/logrotate.d/nginx ...) so there is exactly one rule per log:
    logrotate refuses a log named by two rules. Written before the package, dpkg keeps ours
    (Salt installs with --force-confold). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- set sls_packages = tplroot ~ '.infra.packages' %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- set roles = fileshare.topology.node.roles %}
{%- set rotation = fileshare.infra.logrotate %}

{#- How each service reopens its log: a signal to its main process, a graceful reload, a flush
    command, or copytruncate (Redis and Memcached never reopen their logs). #}
{%- set services = [] %}
{%- if 'load' in roles %}
{%-   do services.append(('nginx', fileshare.nginx, 'kill -USR1 $(cat ' ~ fileshare.nginx.pid ~ ')', none)) %}
{%-   do services.append(('named', fileshare.bind, 'rndc reopen', [fileshare.bind.user, fileshare.bind.group])) %}
{%-   if not fileshare.single_host %}
{%-     do services.append(('haproxy', fileshare.haproxy, '', none)) %}
{%-   endif %}
{%- endif %}
{%- if 'app' in roles %}
{%-   if fileshare.app.server == 'apache' %}
{%-     do services.append(('apache', fileshare.apache, 'systemctl reload ' ~ fileshare.apache.service, none)) %}
{%-   elif 'load' not in roles %}
{%-     do services.append(('nginx', fileshare.nginx, 'kill -USR1 $(cat ' ~ fileshare.nginx.pid ~ ')', none)) %}
{%-   endif %}
{%-   do services.append(('php-fpm', fileshare.php,
        'systemctl kill --kill-who=main --signal=USR1 ' ~ fileshare.php.fpm_service ~ '.service', none)) %}
{%- endif %}
{%- if 'db' in roles %}
{%-   do services.append(('mariadb', fileshare.mariadb,
        'mysqladmin --defaults-file=' ~ fileshare.mariadb.root_cnf
        ~ ' --local flush-error-log flush-engine-log flush-general-log flush-slow-log',
        [fileshare.mariadb.user, fileshare.mariadb.group])) %}
{%- endif %}
{%- if 'intermediate' in roles %}
{%-   do services.append(('redis', fileshare.redis, '', [fileshare.redis.user, fileshare.redis.group])) %}
{%-   do services.append(('memcached', fileshare.memcached, '', none)) %}
{%- endif %}
{%- if 'storage' in roles and not fileshare.single_host %}
{%-   do services.append(('glusterfs', fileshare.glusterfs, '', none)) %}
{%- endif %}

include:
  - {{ sls_packages }}

{%- for name, service, reopen, su in services %}

{{ name }} logs are rotated:
  file.managed:
    - name: {{ fileshare.logrotate.dir }}/{{ service.logrotate_file }}
    - source: {{ files_switch(['logrotate.jinja'], lookup='logrotate-' ~ name) }}
    - template: jinja
    - mode: '0644'
    - require:
      - sls: {{ sls_packages }}
    - context:
        service: {{ service.get('service', service.get('fpm_service', name)) | json }}
        logs: {{ service.logs | json }}
        reopen: {{ reopen | json }}
        su: {{ su | json }}
        rotate: {{ rotation.rotate }}
        frequency: {{ rotation.frequency | json }}
{%- endfor %}
