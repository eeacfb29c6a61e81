{#- Apache httpd as the app server: the modules of app.apache_modules (WebDAV, php-fpm, and what the
    product's engine adds), Listen on loopback (plus the node address where a separate load balancer
    must reach it) on fileshare:ports:app, one virtual host, and /health routed to the php-fpm pool
    (health.sls installs the script). The product drops its configuration into
    <config_dir>/fileshare.d/50-product.conf (see products/): Apache checks its configuration and
    restarts when a state of the product's SLS changes, and waits for the shared volume's mount.
    Layouts (map apache:layout): debian = a2enmod/a2ensite; redhat = conf.d, modules loaded by the
    package's conf.modules.d; arch = conf/extra plus Include lines in httpd.conf. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- from tplroot ~ "/app/settings.jinja" import app with context %}
{%- set apache = fileshare.apache %}
{%- set modules = app.apache_modules %}
{%- set site_file = apache.sites_available ~ '/fileshare.conf' %}
{%- set snippet_dir = apache.config_dir ~ '/fileshare.d' %}

{#- The product is not included here: its states come after Apache's package (its files belong to the
    web server's user), so it is applied through fileshare.app or the product's own SLS, both of which
    bring this one first. #}
include:
  - .packages
  - {{ app.sls.health }}
{%- for sls in app.sls.mounts %}
  - {{ sls }}
{%- endfor %}

{#- The distribution listens on HTTP (and HTTPS with mod_ssl); those ports belong to the TLS front. #}
{%- for config in apache.listen_configs %}

The distribution's Listen directives in {{ config }} are disabled:
  file.comment:
    - name: {{ config }}
    - regex: ^\s*Listen\s
    - backup: False
    - ignore_missing: True
    - require:
      - sls: {{ tplroot }}.app.packages
    - watch_in:
      - service: Apache httpd is running and enabled
    - onchanges_in:
      - cmd: Apache httpd configuration is valid
{%- endfor %}

{%- if apache.layout == 'debian' %}
{#-   Salt 3008 no longer ships the a2enmod-based apache_module/apache_site states: call the tools,
      guarded by the symlinks they create. #}
{%-   for module in modules %}

Apache module {{ module }} is enabled:
  fileshare_cmd.run:
    - name: a2enmod -q {{ module }}
    - creates: {{ apache.config_dir }}/mods-enabled/{{ module }}.load
    - require:
      - sls: {{ tplroot }}.app.packages
    - onchanges_in:
      - cmd: Apache httpd configuration is valid
    - watch_in:
      - service: Apache httpd is running and enabled
{%-   endfor %}

The distribution's default site is disabled:
  fileshare_cmd.run:
    - name: a2dissite -q 000-default
    - onlyif: test -e {{ apache.sites_enabled }}/000-default.conf
    - require:
      - sls: {{ tplroot }}.app.packages
    - watch_in:
      - service: Apache httpd is running and enabled

The fileshare site is enabled:
  fileshare_cmd.run:
    - name: a2ensite -q fileshare
    - creates: {{ apache.sites_enabled }}/fileshare.conf
    - require:
      - file: The fileshare Apache site is configured
    - onchanges_in:
      - cmd: Apache httpd configuration is valid
    - watch_in:
      - service: Apache httpd is running and enabled
{%- else %}

{#- RedHat's conf.modules.d loads these already; the guards make the file harmless there. #}
The Apache modules fileshare needs are loaded:
  file.managed:
    - name: {{ apache.conf_d }}/00-fileshare-modules.conf
    - source: {{ files_switch(['apache-modules.conf.jinja'], lookup='apache-modules') }}
    - template: jinja
    - mode: '0644'
    - context:
        modules: {{ modules | json }}
    - require:
      - sls: {{ tplroot }}.app.packages
    - watch_in:
      - service: Apache httpd is running and enabled
{%-   if apache.layout == 'arch' %}

Apache includes the fileshare configuration:
  file.append:
    - name: {{ apache.main_config }}
    - text:
      - Include {{ apache.conf_d }}/00-fileshare-modules.conf
      - Include {{ site_file }}
    - require:
      - file: The Apache modules fileshare needs are loaded
      - file: The fileshare Apache site is configured
    - watch_in:
      - service: Apache httpd is running and enabled
{%-   endif %}
{%- endif %}

The product directory exists:
  file.directory:
    - name: {{ app.product_dir }}
    - mode: '0755'

Apache's fileshare snippet directory exists:
  file.directory:
    - name: {{ snippet_dir }}
    - mode: '0755'
    - require:
      - sls: {{ tplroot }}.app.packages

The fileshare Apache site is configured:
  file.managed:
    - name: {{ site_file }}
    - source: {{ files_switch(['apache-site.conf.jinja'], lookup='apache-site') }}
    - template: jinja
    - mode: '0644'
    - context:
        app: {{ app | json }}
        apache: {{ apache | json }}
        snippet_dir: {{ snippet_dir }}
    - require:
      - file: Apache's fileshare snippet directory exists

{#- Before the product's snippet: this Alias must precede a product's "Alias /". #}
Apache routes /health to the php-fpm pool:
  file.managed:
    - name: {{ snippet_dir }}/10-health.conf
    - source: {{ files_switch(['apache-health.conf.jinja'], lookup='apache-health') }}
    - template: jinja
    - mode: '0644'
    - context:
        app: {{ app | json }}
    - require:
      - file: Apache's fileshare snippet directory exists
      - sls: {{ app.sls.health }}

Apache httpd configuration is valid:
  cmd.run:
    - name: {{ apache.configtest }}
    - onchanges:
      - file: The fileshare Apache site is configured
      - file: Apache routes /health to the php-fpm pool
      - sls: {{ app.sls.product }}
    - require_in:
      - service: Apache httpd is running and enabled

Apache httpd is running and enabled:
  service.running:
    - name: {{ apache.service }}
    - enable: True
{%- if app.sls.mounts %}
    - require:
{%-   for sls in app.sls.mounts %}
      - sls: {{ sls }}
{%-   endfor %}
{%- endif %}
    - watch:
      - sls: {{ tplroot }}.app.packages
      - file: The fileshare Apache site is configured
      - file: Apache routes /health to the php-fpm pool
      # The product's snippet, users file and what they serve (products/<product>.sls).
      - sls: {{ app.sls.product }}
