{#- Infrastructure every node gets: package sources from the site's mirrors (air-gapped), basic
    packages, journald limits, and log rotation for every service log this node will write. -#}
include:
  - .repositories
  - .packages
  - .journald
  - .logrotate
