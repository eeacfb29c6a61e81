{#- The site's release on an app node: the web server sends X-Fileshare-Release-App (reload) and
    php-fpm reads fileshare.release (reload), both again whenever the node's release changes
    (infra/release.sls). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set sls_release = tplroot ~ '.infra.release' %}
{%- set release = fileshare.get('release', {}) %}
{%- set name = (release.get('name', '') if release is mapping else '') | string %}
{%- set php = fileshare.php %}

include:
  - {{ sls_release }}
{%- if fileshare.app.server == 'nginx' %}

The web server names the release in its answers:
  file.managed:
    - name: {{ fileshare.nginx.config_dir }}/fileshare-app.d/fileshare-release.conf
    - mode: '0644'
    - contents: 'add_header X-Fileshare-Release-App "{{ name }}" always;'

The web server serves the release:
  service.running:
    - name: {{ fileshare.nginx.service }}
    - reload: True
    - watch:
      - file: The web server names the release in its answers
      - sls: {{ sls_release }}
{%- else %}

The web server names the release in its answers:
  file.managed:
    - name: {{ fileshare.apache.config_dir }}/fileshare.d/fileshare-release.conf
    - mode: '0644'
    - contents: 'Header always set X-Fileshare-Release-App "{{ name }}"'

The web server's configuration with the release is valid:
  cmd.run:
    - name: {{ fileshare.apache.configtest }}
    - onchanges:
      - file: The web server names the release in its answers

The web server serves the release:
  service.running:
    - name: {{ fileshare.apache.service }}
    - reload: True
    - require:
      - cmd: The web server's configuration with the release is valid
    - watch:
      - file: The web server names the release in its answers
      - sls: {{ sls_release }}
{%- endif %}

PHP-FPM knows the release:
  file.managed:
    - name: {{ php.conf_d }}/99-fileshare-release.ini
    - mode: '0644'
    - contents: 'fileshare.release = "{{ name }}"'

PHP-FPM runs with the release:
  service.running:
    - name: {{ php.fpm_service }}
    - reload: True
    - watch:
      - file: PHP-FPM knows the release
      - sls: {{ sls_release }}
