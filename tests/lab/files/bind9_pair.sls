{#- Functional test of the bind9 module (tests/lab/test_bind9_functional.py): named on two lab nodes,
    a primary taking TSIG-signed dynamic updates and a secondary transferring with the same key; any other
    node is a client with dig and nsupdate.
    Pillar (from the test): bind9_test:{zone, primary, secondary} with minion ids; the TSIG secret is
    the site's fileshare:secrets:tsig_key. -#}
{%- set t = pillar['bind9_test'] %}
{%- set nodes = {} %}
{%- for n in pillar['fileshare']['nodes'] %}{% do nodes.update({n.name: n.address}) %}{% endfor %}
{%- set role = {t.primary: 'primary', t.secondary: 'secondary'}.get(grains['id'], 'client') %}
{%- if role == 'client' %}

dig and nsupdate are installed:
  pkg.installed:
    - pkgs: [bind9-dnsutils]
    - refresh: True
{%- else %}

named and its tools are installed:
  pkg.installed:
    - pkgs: [bind9, bind9-utils, bind9-dnsutils]
    - refresh: True

named is configured as the test {{ role }}:
  file.managed:
    - name: /etc/bind/named.conf
    - source: salt://tests/lab/files/named-{{ role }}.conf.jinja
    - template: jinja
    - group: bind
    - mode: '0640'
    - show_changes: False
    - context:
        zone: {{ t.zone }}
        secret: {{ pillar['fileshare']['secrets']['tsig_key'] }}
        primary: {{ nodes[t.primary] }}
        secondary: {{ nodes[t.secondary] }}
    - require:
      - pkg: named and its tools are installed

named runs with the test configuration:
  service.running:
    - name: named
    - enable: True
    - watch:
      - file: named is configured as the test {{ role }}
{%- endif %}
