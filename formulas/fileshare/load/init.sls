{#- Load layer: the TLS front and the site's authoritative DNS (bind9). all_in_one: nginx on the node's
    address (certificate from pillar or a lab CA made with Salt's x509 modules). HA architectures
    (mini_ha, full_ha): HAProxy on the VIP, keepalived moving the VIP between the load nodes, bind9
    primary on the first load node and secondaries on the others. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}

include:
  - .tls
{%- if fileshare.single_host %}
  - .nginx
{%- else %}
  - .haproxy
  - .vip_handoff
  - .keepalived
{%- endif %}
  - .bind9
