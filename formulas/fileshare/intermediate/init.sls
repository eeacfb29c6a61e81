{#- The intermediate layer: Redis (ownCloud's file locking and distributed cache, password protected)
    and Memcached (local cache). Both listen only where their clients are. -#}
include:
  - .redis
  - .memcached
