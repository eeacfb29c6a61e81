{#- Reports what an orchestration run on this master sees of the site: its architecture and nodes. -#}
{%- set site = salt['pillar.get']('fileshare', {}) %}
the orchestration sees the site's nodes:
  test.succeed_without_changes:
    - name: {{ (site.get('architecture', '') ~ ':' ~ site.get('nodes', []) | map(attribute='name') | join(',')) | json }}
