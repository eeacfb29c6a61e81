{#- The suite's own modules (_modules, _states: bind9, galera, fileshare_pillar ...) are on this node
    before any layer uses them. Reports a change only when something new was synced. -#}
the suite's Salt modules are synced from the master:
  saltutil.sync_all:
    - refresh: True
