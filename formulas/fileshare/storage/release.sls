{#- The site's release on a storage node (HA architectures): glusterd restarts on a release change.
    glusterd only: the brick processes keep serving (KillMode=process, glusterfs.sls); the runbook
    still waits for heals before the next node.
    Debian's glusterd unit allows 6 starts an hour (StartLimitBurst=6, StartLimitInterval=1h): a
    planned restart clears the count first, or a site that upgraded a few times in an hour (the lab
    did) finds glusterd refused with start-limit-hit. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}
{%- set sls_release = tplroot ~ '.infra.release' %}
{%- if not fileshare.topology.single_host %}

include:
  - {{ sls_release }}

{{ fileshare.glusterfs.service }} restarts into the release:
  cmd.run:
    - name: >-
        systemctl reset-failed {{ fileshare.glusterfs.service }};
        systemctl restart {{ fileshare.glusterfs.service }}
    - onchanges:
      - sls: {{ sls_release }}
{%- endif %}
