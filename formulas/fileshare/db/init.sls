{#- The database layer. MariaDB standalone (all_in_one): installed and configured as ownCloud requires,
    root secured, then the product's database and user. Galera for the HA architectures plugs in
    beside mariadb.sls (issue 3: galera.bootstrapped / galera.joined) without changing the steps after it. -#}
include:
  - .mariadb
  - .secure
  - .database
