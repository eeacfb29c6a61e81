{#- The example site. A real site sets its architecture once and includes one node list:
      include: [sites.mysite.common, sites.mysite.full_ha]
    The lab runs every architecture from this one site, so it picks the node list from the master's
    configuration (`fileshare_example_architecture`, written by fileshare-lab into its master config). -#}
{%- set architecture = salt['config.get']('fileshare_example_architecture', 'all_in_one') %}
include:
  - sites.example.common
  - sites.example.{{ architecture }}
