{#- HAProxy on the load nodes of HA architectures: HTTPS front on the VIP (TLS terminated here, certificate
    from tls.sls) to the app nodes' web servers with the deep /health check, a per-client rate limit
    (stick table, 429), admin-path ACLs from pillar; TCP fronts on the VIP for the database (one Galera
    writer at a time) and for the current Redis master; the runtime API socket and a loopback-only
    stats page. The configuration holds the Redis password: root and haproxy's group only. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- from tplroot ~ "/load/settings.jinja" import load with context %}
{%- set haproxy = fileshare.haproxy %}
{%- set sls_tls = tplroot ~ '.load.tls' %}

include:
  - {{ sls_tls }}

{#- Both load nodes bind the VIP at all times, so a failover is only keepalived moving the address.
    net.ipv4 settings belong to the container's own network namespace: writable in the lab's LXC nodes. #}
HAProxy may bind the VIP while this node is BACKUP:
  sysctl.present:
    - name: net.ipv4.ip_nonlocal_bind
    - value: 1
    - config: {{ fileshare.sysctl.config }}

HAProxy is installed:
  pkg.installed:
    - pkgs: {{ haproxy.pkgs | json }}

{#- HAProxy loads <certificate>.key beside the certificate (ssl-load-extra-files, the default). #}
HAProxy finds the TLS front's key beside its certificate:
  file.symlink:
    - name: {{ load.cert }}.key
    - target: {{ load.key }}
    - require:
      - sls: {{ sls_tls }}

{#- The runtime API socket's directory, recreated at every boot (the same line as Debian's package). #}
HAProxy's runtime directory is declared:
  file.managed:
    - name: {{ haproxy.tmpfiles }}
    - contents: 'd {{ haproxy.socket_dir }} 2775 {{ haproxy.user }} {{ haproxy.group }} -'
    - mode: '0644'
    - require:
      - pkg: HAProxy is installed

HAProxy's runtime directory exists:
  cmd.run:
    - name: systemd-tmpfiles --create {{ haproxy.tmpfiles }}
    - onchanges:
      - file: HAProxy's runtime directory is declared

HAProxy is configured:
  file.managed:
    - name: {{ haproxy.config }}
    - source: {{ files_switch(['haproxy.cfg.jinja'], lookup='haproxy-cfg') }}
    - template: jinja
    - user: root
    - group: {{ haproxy.group }}
    - mode: '0640'
    - show_changes: False
    - context:
        haproxy: {{ haproxy | json }}
        load: {{ load | json }}
    - require:
      - pkg: HAProxy is installed

HAProxy's configuration is valid:
  cmd.run:
    - name: {{ haproxy.configtest }} {{ haproxy.config }}
    - onchanges:
      - file: HAProxy is configured
    - require:
      - sysctl: HAProxy may bind the VIP while this node is BACKUP
      - file: HAProxy finds the TLS front's key beside its certificate
      - sls: {{ sls_tls }}

HAProxy is running and enabled:
  service.running:
    - name: {{ haproxy.service }}
    - enable: True
    - reload: True
    - require:
      - cmd: HAProxy's configuration is valid
      - cmd: HAProxy's runtime directory exists
    - watch:
      - file: HAProxy is configured
      # A new certificate or key (tls.sls: the site's own or the lab CA's) is reloaded.
      - sls: {{ sls_tls }}
