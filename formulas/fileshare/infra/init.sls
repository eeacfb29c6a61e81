{#- Infrastructure every node gets: package sources from the site's mirrors (air-gapped), basic
    packages, journald limits, log rotation for every service log this node will write, and (HA
    architectures) the nftables firewall that admits only each role's peers. -#}
include:
  - .repositories
  - .packages
  - .journald
  - .logrotate
  - .firewall
