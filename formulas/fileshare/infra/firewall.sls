{#- nftables on every node of the HA architectures: input dropped except what the node's roles serve,
    and only to the peers that use it (rules: infra/firewall.jinja). all_in_one leaves it off unless
    pillar fileshare:firewall:enabled is true. The rule set is loaded atomically (one table replaced
    in one transaction), so a re-apply never opens a window; the service loads it at boot. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/libtofs.jinja" import files_switch with context %}
{%- from tplroot ~ "/infra/firewall.jinja" import firewall with context %}
{%- if firewall.enabled %}

nftables is installed:
  pkg.installed:
    - pkgs: {{ firewall.pkgs | json }}

the firewall rule set is written:
  file.managed:
    - name: {{ firewall.config }}
    - source: {{ files_switch(['nftables.conf.jinja'], lookup='nftables-conf') }}
    - template: jinja
    - user: root
    - group: root
    - mode: '0600'
    - check_cmd: nft -c -f
    - context:
        table: {{ firewall.table | json }}
        rules: {{ firewall.rules | json }}
        vip_ports: {{ firewall.vip_ports | json }}
    - require:
      - pkg: nftables is installed

# `nft -f` replaces the table in one transaction; a service restart would flush every rule first.
the firewall rule set is loaded:
  cmd.run:
    - name: nft -f {{ firewall.config }}
    - onchanges:
      - file: the firewall rule set is written

# A node whose table was flushed by hand (or never loaded) gets it back even if the file is unchanged.
the firewall table is in force:
  fileshare_cmd.run:
    - name: nft -f {{ firewall.config }}
    - unless: nft list table inet {{ firewall.table }}
    - require:
      - cmd: the firewall rule set is loaded

nftables loads the rule set at boot:
  service.enabled:
    - name: {{ firewall.service }}
    - require:
      - fileshare_cmd: the firewall table is in force
{%- endif %}
