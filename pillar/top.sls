# Which site's pillar each minion (and the master, for orchestrations) gets.
# A new site: copy pillar/sites/example to pillar/sites/<site>, then point a line here at it.
base:
  '*':
    - sites.example
