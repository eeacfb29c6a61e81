{#- keepalived on the load nodes of HA architectures: the VIP (fileshare:vip:address) by VRRP over unicast
    to the other load nodes, held only where HAProxy runs (track script), priorities from pillar
    fileshare:load:keepalived:priorities (default: the first load node highest). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- from tplroot ~ "/load/settings.jinja" import load with context %}
{%- set keepalived = fileshare.keepalived %}
{%- set sls_haproxy = tplroot ~ '.load.haproxy' %}
{%- set sls_vip_handoff = tplroot ~ '.load.vip_handoff' %}

include:
  - {{ sls_haproxy }}
  - {{ sls_vip_handoff }}

keepalived is installed:
  pkg.installed:
    - pkgs: {{ keepalived.pkgs | json }}

keepalived is configured:
  file.managed:
    - name: {{ keepalived.config }}
    - source: {{ files_switch(['keepalived.conf.jinja'], lookup='keepalived-conf') }}
    - template: jinja
    - user: root
    - group: root
    # May hold the VRRP password (fileshare:secrets:vrrp_password).
    - mode: '0600'
    - show_changes: False
    - makedirs: True
    - context:
        keepalived: {{ keepalived | json }}
        load: {{ load | json }}
        handoff: {{ fileshare.vip_handoff | json }}
    - require:
      - pkg: keepalived is installed

keepalived is running and enabled:
  service.running:
    - name: {{ keepalived.service }}
    - enable: True
    - reload: True
    - require:
      # The VIP only where HAProxy runs; its notify scripts hand sessions over when the VIP moves.
      - sls: {{ sls_haproxy }}
      - sls: {{ sls_vip_handoff }}
    - watch:
      - file: keepalived is configured
