{#- journald keeps a bounded amount of logs (a full /var would stop MariaDB and Redis first). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- set journald = fileshare.infra.journald %}

journald size and retention limits are set:
  file.managed:
    - name: {{ fileshare.journald.conf_dir }}/60-fileshare.conf
    - source: {{ files_switch(['journald.conf.jinja'], lookup='journald-conf') }}
    - template: jinja
    - makedirs: True
    - mode: '0644'
    - context:
        system_max_use: {{ journald.system_max_use | json }}
        max_retention: {{ journald.max_retention | json }}

journald runs with the limits:
  service.running:
    - name: {{ fileshare.journald.service }}
    - watch:
      - file: journald size and retention limits are set
