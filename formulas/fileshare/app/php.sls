{#- php-fpm with the extensions ownCloud requires (ctype, curl, dom, gd, iconv, intl, json, mbstring,
    pdo_mysql, posix, simplexml, xmlwriter, zip, zlib; apcu, redis, memcached for caching; opcache), and
    one pool, "fileshare", that PHP products and the health endpoint run on. PHP settings live in the
    pool (php_admin_value) so the distribution's php.ini stays untouched. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- from tplroot ~ "/app/settings.jinja" import app with context %}
{%- set php = fileshare.php %}

include:
  - .packages
{%- for sls in app.sls.mounts %}
  - {{ sls }}
{%- endfor %}

The fileshare PHP-FPM pool is configured:
  file.managed:
    - name: {{ php.pool_dir }}/fileshare.conf
    - source: {{ files_switch(['php-fpm-pool.conf.jinja'], lookup='php-fpm-pool') }}
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - context:
        php: {{ php | json }}
        settings: {{ fileshare.app.php | json }}
        socket: {{ app.fpm_socket }}
        data_dir: {{ fileshare.app.data_dir }}
    - require:
      - sls: {{ tplroot }}.app.packages

{#- The packaged "www" pool would be a second, unconfigured entry point. #}
The distribution's default PHP-FPM pool is removed:
  file.absent:
    - name: {{ php.pool_dir }}/www.conf
    - require:
      - file: The fileshare PHP-FPM pool is configured

PHP-FPM is running and enabled:
  service.running:
    - name: {{ php.fpm_service }}
    - enable: True
{%- if app.sls.mounts %}
    # The pool serves the data directory: on HA, the shared volume.
    - require:
{%-   for sls in app.sls.mounts %}
      - sls: {{ sls }}
{%-   endfor %}
{%- endif %}
    - watch:
      - sls: {{ tplroot }}.app.packages
      - file: The fileshare PHP-FPM pool is configured
      - file: The distribution's default PHP-FPM pool is removed
