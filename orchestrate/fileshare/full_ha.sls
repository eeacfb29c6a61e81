{#- Runbook: deploy the file share on dedicated nodes per layer (full_ha; mini_ha runs the same steps
    on 3 nodes that carry every layer).
      salt-run saltutil.sync_all                        # once, so the master has fileshare_pillar
      salt-run state.orchestrate fileshare.full_ha

    validate pillar -> sync modules -> infrastructure -> at once, each on its own nodes:
      database: bootstrap, join one by one, quorate
      intermediate: Redis/Sentinel/Memcached, quorate
      storage: glusterd, replica-3 volume
      app software: packages and the product's engine on every app node
      load: HAProxy, keepalived VIP, bind9 primary and secondaries
      backup (a node listed with role backup; on mini_ha the last db node): its job once the volume is
      started, then the database nodes admit its key
    -> app (one node at a time, each mounting the volume) -> smoke check through the VIP.
    The five branches run at once only where no node carries two of them (full_ha): a minion runs one
    state run at a time, so on mini_ha, whose nodes carry every layer, they run one after the other.
    Nodes come from fileshare:nodes by role; "first" means first in pillar order. The first failure
    stops the run (failhard) and salt-run names the step and its failing states. Run it again at any
    time: a converged site reports no changes, and a rebuilt node is brought back into its cluster
    (Galera IST/SST on join, Gluster self-heal after its peer probe, Sentinel hands it the master). -#}
{%- from "fileshare/steps.jinja" import targets, validated, synced, step, topology with context %}
{%- set db_nodes = targets('db').split(',') | reject('equalto', '') | list %}
{%- set infra = 'infrastructure is in place on every node (mirrors, packages, journald, logrotate)' %}
{#- Parallel branches need disjoint node sets (see above). #}
{%- set ns = namespace(seen=[], parallel=True) %}
{%- for role in ['db', 'intermediate', 'storage', 'app', 'load', 'backup'] %}
{%-   set names = targets(role).split(',') | reject('equalto', '') | list %}
{%-   if names | select('in', ns.seen) | list %}{% set ns.parallel = False %}{% endif %}
{%-   set ns.seen = ns.seen + names %}
{%- endfor %}
{%- set parallel = ns.parallel %}
{#- The step written last in a chain (the database joins, then the app nodes): the next one requires
    it. A branch starts after the infrastructure when branches run at once, else after the end of the
    branch before it (`ends`). #}
{%- set previous = namespace(title=infra) %}

{{ validated() }}
{{ synced() }}

{{ step(infra, targets('infra'), 'fileshare.infra', "the suite's modules are synced to every node") }}

{#- Galera: exactly one node may start a new cluster, and members must join one at a time (two
    simultaneous SSTs from one donor stall both). The bootstrap state starts a cluster only when no
    member runs a Primary component anywhere; otherwise it joins, so a re-run never forks the cluster. #}
{%- set title = 'the database cluster is bootstrapped on ' ~ targets('db', first=True) %}
{{ step(title, targets('db', first=True), 'fileshare.db.galera.bootstrap', infra, parallel=parallel) }}
{%- set previous.title = title %}
{#- The bootstrap node comes last: it then gets the rest of the database layer (product database,
    health responder) once its peers are in. #}
{%- for node in db_nodes[1:] + db_nodes[:1] %}
{{ step('database node ' ~ node ~ ' is a synced member of the cluster', node, 'fileshare.db',
        previous.title, parallel=parallel) }}
{%-   set previous.title = 'database node ' ~ node ~ ' is a synced member of the cluster' %}
{%- endfor %}

# Gate: nothing is built on a database that has no quorum or a member still catching up.
{{ step('the database cluster is quorate with every member synced', targets('db'), 'fileshare.db.quorate',
        previous.title, parallel=parallel) }}
{%- set ends = ['the database cluster is quorate with every member synced'] %}

{{ step('Redis with Sentinel and Memcached are up on the intermediate nodes', targets('intermediate'),
        'fileshare.intermediate', infra if parallel else ends[-1], parallel=parallel) }}

# Gate: the Sentinels agree on one master and every replica is connected to it.
{{ step('the Sentinels agree on one Redis master', targets('intermediate'), 'fileshare.intermediate.quorate',
        'Redis with Sentinel and Memcached are up on the intermediate nodes', parallel=parallel) }}
{%- do ends.append('the Sentinels agree on one Redis master') %}

{{ step('GlusterFS runs on the storage nodes with their bricks', targets('storage'), 'fileshare.storage',
        infra if parallel else ends[-1], parallel=parallel) }}

{{ step('the replicated volume is started (from ' ~ targets('storage', first=True) ~ ')',
        targets('storage', first=True), 'fileshare.storage.volume',
        'GlusterFS runs on the storage nodes with their bricks', parallel=parallel) }}
{%- do ends.append('the replicated volume is started (from ' ~ targets('storage', first=True) ~ ')') %}

{#- Installing changes no running service: every app node at once (app/packages.sls). #}
{{ step('the app nodes have their software installed', targets('app'), 'fileshare.app.packages',
        infra if parallel else ends[-1], parallel=parallel) }}
{%- do ends.append('the app nodes have their software installed') %}

{#- HAProxy (HTTPS, database and Redis fronts), keepalived (the VIP) and bind9: the primary on the first
    load node, secondaries on the others, zone transfers signed with TSIG. HAProxy's checks keep
    clients off the app nodes until they serve. #}
{%- if parallel %}
{{ step('the load balancers hold the VIP and serve DNS', targets('load'), 'fileshare.load', infra,
        parallel=True) }}
{%- endif %}

{#- One app node at a time, so the others keep serving while one is (re)configured. One step per node,
    not `batch: 1`: measured on Salt 3008.4 under load, a batched salt.state moved on (and the next
    step started) while the batch's nodes were still running their states. The steps after the branches
    are parallel too, though each waits for the one before: Salt 3008's orchestrate runner blocks on a
    non-parallel step whose requisites still run, and starts nothing else meanwhile (measured: the
    database joins waited 100 s for the app packages). #}
{%- set previous.title = ends if parallel else ends[-1] %}
{%- for node in targets('app').split(',') | reject('equalto', '') %}
{{ step('app node ' ~ node ~ ' mounts the volume and serves the product and /health', node, 'fileshare.app',
        previous.title, parallel=parallel) }}
{%-   set previous.title = 'app node ' ~ node ~ ' mounts the volume and serves the product and /health' %}
{%- endfor %}
{%- if not parallel %}

{{ step('the load balancers hold the VIP and serve DNS', targets('load'), 'fileshare.load',
        previous.title) }}
{%- endif %}

{#- The backup node (docs/backup.md): its job and client mount once the volume is started, then the
    database nodes let its key run the copy. #}
{#- One after the other (mini_ha), the backup comes after the load layer and the smoke check after it. #}
{%- set smoke_after = [previous.title, 'the load balancers hold the VIP and serve DNS'] %}
{%- if targets('backup') %}
{%-   set volume_step = 'the replicated volume is started (from ' ~ targets('storage', first=True) ~ ')' %}
{%-   set backup_step = 'the backup node mounts the volume and holds the repository and its timers' %}
{%-   set source_step = "the database nodes let the backup node's key copy them, and nothing else" %}

{{ step(backup_step, targets('backup'), 'fileshare.backup_job',
        volume_step if parallel else 'the load balancers hold the VIP and serve DNS', parallel=parallel) }}

{%-   if topology.backup_remote %}

{{ step(source_step, targets('db'), 'fileshare.backup_job.source',
        [backup_step, 'the database cluster is quorate with every member synced'], parallel=parallel) }}
{%-   endif %}
{%-   if not parallel %}
{%-     do smoke_after.append(source_step if topology.backup_remote else backup_step) %}
{%-   endif %}
{%- endif %}

# Through HTTPS at the service's name on the VIP, from each load node: /health is 200 (database
# write, Redis, shared data directory all fine) and a file survives a WebDAV PUT/GET round trip.
{{ step('the file share works end to end through the VIP (health 200, WebDAV round trip)', targets('load'),
        'fileshare.infra.smoke', smoke_after, parallel=parallel) }}
