{#- The app node's software: php-fpm, the app server's package and the product's engine (WsgiDAV's
    virtualenv from the site's Python mirror). Installing changes no running service, so the
    orchestrations run this on every app node at once before fileshare.app configures them one at a
    time (package installs were ~90% of an app node's first converge, measured in the lab).
    fileshare.app includes it through php.sls, the app server's and the product's SLS. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/app/settings.jinja" import app with context %}
{%- from tplroot ~ "/libpins.jinja" import pins_present with context %}
{%- set mirrors = fileshare.mirrors if fileshare.mirrors is mapping else {} %}
{%- set wsgidav = fileshare.wsgidav %}

PHP-FPM and the PHP extensions ownCloud requires are installed:
  pkg.installed:
    - pkgs: {{ fileshare.php.pkgs | json }}
{%- if fileshare.app.server == 'apache' %}

Apache httpd is installed:
  pkg.installed:
    - pkgs: {{ (fileshare.apache.pkgs + fileshare.apache.utils_pkgs) | json }}
    # Salt's apache modules load only once apachectl exists.
    - reload_modules: True
{%- elif fileshare.app.server == 'nginx' %}

nginx (app server) is installed:
  pkg.installed:
    - pkgs: {{ fileshare.nginx.pkgs | json }}
{%- endif %}
{#- products/webdav.sls refuses the other combinations, saying why. #}
{%- if fileshare.product == 'webdav' and fileshare.app.server == 'apache' and app.webdav_engine == 'wsgidav'
       and mirrors.get('python') %}

Python's venv module is installed for WsgiDAV:
  pkg.installed:
    - pkgs: {{ wsgidav.venv_pkgs | json }}

The WsgiDAV virtualenv exists:
  fileshare_cmd.run:
    - name: python3 -m venv {{ wsgidav.venv }}
    - creates: {{ wsgidav.venv }}/bin/python
    - require:
      - pkg: Python's venv module is installed for WsgiDAV

{#- pip runs only when a pin is missing or at another version (libpins.jinja: pip.installed alone took
    ~2.3 s of a ~4 s no-op run of this layer). #}
WsgiDAV or its Redis client is missing or at another version:
  fileshare_cmd.run:
    - name: echo {{ wsgidav.requirements | join(' ') | quote }}
    - unless: {{ pins_present(wsgidav.venv ~ '/bin/python', wsgidav.requirements) | json }}
    - require:
      - fileshare_cmd: The WsgiDAV virtualenv exists

# Pinned wheels from the site's mirror only, never a public index.
WsgiDAV and its Redis client are installed:
  pip.installed:
    - pkgs: {{ wsgidav.requirements | json }}
    - bin_env: {{ wsgidav.venv }}/bin/pip
    - no_index: True
    - find_links: {{ mirrors.python | json }}
{%-   if mirrors.python.startswith('http://') %}
    - trusted_host: {{ mirrors.python.split('/')[2].split(':')[0] | json }}
{%-   endif %}
    - onchanges:
      - fileshare_cmd: WsgiDAV or its Redis client is missing or at another version
{%- endif %}
