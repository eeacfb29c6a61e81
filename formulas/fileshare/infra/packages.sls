{#- Basic packages every node needs (logrotate, curl for checks, rsync, ...). -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- set sls_repositories = tplroot ~ '.infra.repositories' %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}

include:
  - {{ sls_repositories }}

basic packages are installed:
  pkg.installed:
    - pkgs: {{ fileshare.base.pkgs | json }}
    - require:
      - sls: {{ sls_repositories }}
