{#- Runbook: move a running HA site (full_ha or mini_ha) to the release in fileshare:release, node by
    node, while it keeps serving.
      salt-run state.orchestrate fileshare.rolling_upgrade
      salt-run state.orchestrate fileshare.rolling_upgrade \
        pillar='{"fileshare": {"release": {"name": "2026.2", "packages": {"haproxy": "2.6.12-1+deb12u3"} } } }'

    pre-flight (nothing is touched unless all pass): pillar valid, a release named, the suite's
      execution and state modules synced (three nodes at a time),
      Galera quorate and every member Synced, every app server serving on every load node and its
      /health 200, the Sentinels agreeing on one master with every replica online, the Gluster volume
      with every brick connected and nothing left to heal
    -> nodes that serve no user (a backup node of its own): release applied
    -> app nodes, one at a time: drained on every load node (bounded wait for its sessions to end),
      release applied, its /health 200, ready again on every load node
    -> database nodes, one at a time (backups first, the writer last): galera.safe_to_take_down, maint
      in the database front on every load node (the writer moves to the next node; sessions still open
      after 20 s are shut down), release applied (MariaDB restarts, rejoins by IST, Synced), the
      cluster quorate at full size, ready again
    -> intermediate nodes, one at a time (replicas first, the first node last: it is the initial Redis
      master): a node holding the Redis master hands it over by SENTINEL FAILOVER first; release
      applied (Redis, Sentinel, Memcached restart); Sentinels agree again
    -> storage nodes, one at a time: release applied (glusterd restarts), then every brick connected
      and no heal pending before the next
    -> load nodes, one at a time (the BACKUP first: the first node, keepalived's highest priority,
      last): a node holding the VIP stops keepalived cleanly (its BACKUP takes the VIP at once), the
      VIP checked to answer from the other node; the web sessions still open on the node (the new
      holder hands their packets back: load/vip_handoff.sls) are finished by an HAProxy reload, at
      most 60 s; release applied (HAProxy reloads, or restarts for a new package), keepalived started
      again (it takes the VIP back after preempt_delay, the other node finishing its own sessions)
    -> smoke check through the VIP.

    Every gate, wait and hand-over is a state of the suite's modules (fileshare_haproxy, galera,
    fileshare_redis, fileshare_gluster, fileshare_http, fileshare_vip; docs/modules.md), run with
    state.single on the node named in the step's title. Nodes, ports and names come from the site's
    topology (fileshare_topology); "reverse" below means the last node first. The first failure stops
    the run (failhard): salt-run names the step, i.e. the node and what it was doing. The cluster keeps
    serving: at most one node is out, and the step's title says which one and how (drained in the app
    backend, in maint in the database backend, keepalived stopped). Put it back by hand once fixed, e.g.
      salt -L lb1,lb2 state.single fileshare_haproxy.ready name=app1 backend=app
    or re-run this orchestration: every step is a no-op where it is already done.

    The release comes from the pillar; a pillar given on the command line reaches every node's step.
    A canary run names its nodes in fileshare:release:nodes (one per layer, say): only they take the
    release, in the order above and through the same gates and hand-overs; the pre-flight still asks
    the whole cluster. Running again without it upgrades the rest (the canaries' steps are no-ops).
    Run `salt-run saltutil.sync_all` first when the suite's modules changed. -#}
{%- from "fileshare/steps.jinja" import targets, validated, call, gate, apply, refused, topology with context %}
{%- set release = salt['pillar.get']('fileshare:release', {}) %}
{%- set release = release if release is mapping else {} %}
{%- set with_release = {'fileshare': {'release': release} } %}
{#- The nodes this run upgrades: the canary's (fileshare:release:nodes), or every node. #}
{%- set upgrading = release.get('nodes') or topology.nodes | map(attribute='name') | list %}
{%- set roles, ports, names, vip = topology.roles, topology.ports, topology.names, topology.vip %}
{%- set load = roles.load | join(',') %}

{#- An app node's /health, asked at its own address with the service's name, as HAProxy asks it. #}
{%- macro app_health(node) -%}
http://{{ topology.by_name[node].address }}:{{ ports.app }}/health
{%- endmacro %}

{{ validated() }}

{%- if topology.architecture not in ['mini_ha', 'full_ha'] %}
{{ refused('an HA architecture can be upgraded while it serves',
           'a rolling upgrade needs mini_ha or full_ha: on all_in_one apply fileshare.release in a maintenance window') }}
{%- elif not release.get('name') %}
{{ refused('a release is named in fileshare:release:name',
           'no release to upgrade to: give fileshare:release:name (and packages) in the pillar') }}
{%- else %}

{#- ---------------------------------------------------------------- pre-flight: touch nothing yet
    Only what the suite ships to nodes (_modules, _states), three nodes at a time: each sync is ~1 s of
    a node's CPU even when nothing changed (saltutil.sync_all: ~2.5 s, 19 kinds and a pillar refresh),
    and all of a site's nodes at once is a spike its clients feel (measured in the lab, where 13 nodes
    share 2 cores: requests of 1-4 s for ~15 s). #}
{{ call("pre-flight: the suite's state modules are synced to every node, three at a time", targets(),
        'saltutil.sync_states', batch=3) }}
{{ call("pre-flight: the suite's execution modules are synced to every node, three at a time", targets(),
        'saltutil.sync_modules', batch=3) }}

{{ gate('pre-flight: the Galera cluster is quorate with every member Synced', roles.db,
        'galera.quorate', {'name': names.galera_cluster}) }}

{%-   for node in roles.app %}
{{ gate('pre-flight: app node ' ~ node ~ ' serves on every load node', load,
        'fileshare_haproxy.serving', {'name': node, 'backend': names.backends.app}) }}
{{ gate('pre-flight: app node ' ~ node ~ ' answers /health with 200', node,
        'fileshare_http.answers', {'name': app_health(node), 'host': vip.fqdn, 'timeout': 10}) }}
{%-   endfor %}

{{ gate('pre-flight: the Sentinels agree on one Redis master with every replica online', roles.intermediate,
        'fileshare_redis.quorate', {'name': names.sentinel_master, 'port': ports.sentinel}) }}

{{ gate('pre-flight: the Gluster volume has every brick connected and nothing to heal', roles.storage[:1],
        'fileshare_gluster.healed', {'name': names.volume, 'bricks': roles.storage | length, 'timeout': 0}) }}

{#- ---------------------------------------------------------------- nodes that serve no user
    A node carrying none of the serving layers (the backup node of its own) takes the release first:
    nothing users reach moves with it, and a failure there stops the run before any serving node. #}
{%-   for node in topology.nodes if not (node.roles | select('in', ['load', 'app', 'db', 'intermediate',
                                                                  'storage']) | list)
                                    and node.name in upgrading %}
{{ apply('node ' ~ node.name ~ ' (serves no user) runs release ' ~ release.name, node.name, 'fileshare.release',
         with_release) }}
{%-   endfor %}

{#- ---------------------------------------------------------------- app nodes, one at a time #}
{%-   for node in roles.app if node in upgrading %}
{{ gate('app node ' ~ node ~ ' is drained on every load node (no new request, its sessions ended)', load,
        'fileshare_haproxy.drained', {'name': node, 'backend': names.backends.app, 'timeout': 60}) }}
{{ apply('app node ' ~ node ~ ' (drained) runs release ' ~ release.name, node, 'fileshare.release',
         with_release) }}
{#- Up to 60 tries a second apart: the app server restarts with the release. #}
{{ gate('app node ' ~ node ~ ' (drained) answers /health with 200 on release ' ~ release.name, node,
        'fileshare_http.answers', {'name': app_health(node), 'host': vip.fqdn, 'attempts': 60, 'timeout': 5}) }}
{{ gate('app node ' ~ node ~ ' takes traffic again on every load node', load,
        'fileshare_haproxy.ready', {'name': node, 'backend': names.backends.app, 'timeout': 60}) }}
{%-   endfor %}

{#- ---------------------------------------------------------------- database nodes, one at a time
    Backups first, the writer (the first db node) last: the writer moves once. #}
{%-   for node in topology.db_writers | reverse if node in upgrading %}
{{ gate('database node ' ~ node ~ ' may be taken down (galera.safe_to_take_down)', node,
        'galera.safe_to_take_down', {'name': names.galera_cluster}) }}
{{ gate('database node ' ~ node ~ ' is in maint in the database front on every load node', load,
        'fileshare_haproxy.maint', {'name': node, 'backend': names.backends.db, 'timeout': 20}) }}
{{ gate('database node ' ~ node ~ ' (in maint) is not the writer on any load node', load,
        'fileshare_haproxy.writer_elsewhere', {'name': node, 'backend': names.backends.db}) }}
{{ apply('database node ' ~ node ~ ' (in maint) runs release ' ~ release.name ~ ', Synced again', node,
         'fileshare.release', with_release) }}
{{ gate('database node ' ~ node ~ ' (in maint): the Galera cluster is quorate at full size', roles.db,
        'galera.quorate', {'name': names.galera_cluster}) }}
{{ gate('database node ' ~ node ~ ' takes connections again on every load node', load,
        'fileshare_haproxy.ready', {'name': node, 'backend': names.backends.db, 'timeout': 60}) }}
{%-   endfor %}

{#- ---------------------------------------------------------------- intermediate nodes, one at a time
    The first intermediate node is the initial Redis master: it comes last, so replicas go first and
    one failover does. Whatever the master is now (Sentinel may have moved it), a node hands it over
    before it restarts (fileshare_redis.not_master: writes paused at most 6 s, SENTINEL FAILOVER, up to
    3 attempts). The Redis password is read on the node from its pillar, never passed here. #}
{%-   for node in roles.intermediate | reverse if node in upgrading %}
{{ gate('intermediate node ' ~ node ~ ' does not hold the Redis master (Sentinel failover if it did)', node,
        'fileshare_redis.not_master', {'name': names.sentinel_master, 'address': topology.by_name[node].address,
                                       'port': ports.redis, 'sentinel_port': ports.sentinel}) }}
{{ apply('intermediate node ' ~ node ~ ' (a replica) runs release ' ~ release.name, node, 'fileshare.release',
         with_release) }}
{#- Sentinel refreshes its view of the replicas every 10 s: a restarted replica shows online late. #}
{{ gate('intermediate node ' ~ node ~ ': the Sentinels agree again with every replica online', roles.intermediate,
        'fileshare_redis.quorate', {'name': names.sentinel_master, 'port': ports.sentinel}, wait=60) }}
{%-   endfor %}

{#- ---------------------------------------------------------------- storage nodes, one at a time #}
{%-   for node in roles.storage if node in upgrading %}
{{ apply('storage node ' ~ node ~ ' runs release ' ~ release.name, node, 'fileshare.release', with_release) }}
{{ gate('storage node ' ~ node ~ ': every brick connected and every heal finished (at most 300 s)',
        roles.storage[:1], 'fileshare_gluster.healed',
        {'name': names.volume, 'bricks': roles.storage | length, 'timeout': 300}) }}
{%-   endfor %}

{#- ---------------------------------------------------------------- load nodes, one at a time
    The BACKUP first. keepalived stopped cleanly sends a priority-0 advertisement: the BACKUP takes
    the VIP within a second. The sessions opened on the old holder stay there (vip_handoff) until they
    end: HAProxy is restarted on a node only once none is left. The sessions are finished also on a
    node that did not hold the VIP: it may still own sessions from an earlier move. #}
{%-   for node in roles.load | reverse if node in upgrading %}
{{ gate('load node ' ~ node ~ ' does not hold the VIP (keepalived stopped cleanly if it did)', node,
        'fileshare_vip.released', {'name': vip.address, 'fqdn': vip.fqdn, 'port': ports.https}) }}
{{ gate('load node ' ~ node ~ ' has no web session left (HAProxy reloaded to finish them, at most 60 s)', node,
        'fileshare_vip.sessions_finished', {'name': vip.address, 'ports': [ports.http, ports.https], 'timeout': 60}) }}
{{ apply('load node ' ~ node ~ ' (without the VIP) runs release ' ~ release.name, node, 'fileshare.release',
         with_release) }}
{{ gate('load node ' ~ node ~ ' runs keepalived again (it takes the VIP back after preempt_delay if first)', node,
        'fileshare_vip.contending', {'name': vip.address, 'timeout': 30}) }}
{%-   endfor %}

# Through HTTPS at the service's name on the VIP, from each load node: /health 200 and a WebDAV round trip.
{{ call('the file share works end to end through the VIP on release ' ~ release.name, load,
        'state.apply', ['fileshare.infra.smoke']) }}
{%- endif %}
