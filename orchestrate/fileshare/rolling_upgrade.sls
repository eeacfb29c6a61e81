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

    Nodes are ordered from fileshare:nodes; "reverse" below means the last one first. The first failure
    stops the run (failhard): salt-run names the step, i.e. the node and what it was doing. The cluster
    keeps serving: at most one node is out, and the step's title says which one and how (drained in
    fs_app, in maint in fs_db, keepalived stopped). Put it back by hand once fixed, e.g.
      salt lb1,lb2 state.single fileshare_haproxy.ready name=app1 backend=fs_app
    or re-run this orchestration: every step is a no-op where it is already done.

    The release comes from the pillar; a pillar given on the command line reaches every node's step.
    Run `salt-run saltutil.sync_all` first when the suite's modules changed. -#}
{%- from "fileshare/steps.jinja" import targets, validated with context %}
{%- set site = salt['pillar.get']('fileshare', {}) %}
{%- set site = site if site is mapping else {} %}
{%- set release = site.get('release', {}) %}
{%- set release = release if release is mapping else {} %}
{%- set override = {'fileshare': {'release': release} } %}
{%- set nodes = {} %}
{%- for entry in site.get('nodes', []) if entry is mapping and entry.get('name') %}
{%-   do nodes.update({entry.name: entry}) %}
{%- endfor %}
{%- set role = {} %}
{%- for name in ['load', 'app', 'db', 'intermediate', 'storage'] %}
{%-   do role.update({name: targets(name).split(',') | reject('equalto', '') | list}) %}
{%- endfor %}
{%- set load_targets = role.load | join(',') %}
{%- set vip = site.get('vip', {}).get('address', '') %}
{%- set fqdn = site.get('vip', {}).get('name', '') ~ '.' ~ site.get('domain', '') %}
{%- set app_port = site.get('app', {}).get('port', 8080) %}
{%- set volume = site.get('storage', {}).get('volume', 'fileshare') %}
{%- set galera_name = site.get('db', {}).get('galera', {}).get('cluster_name', site.get('site', 'fileshare') ~ '-db') %}
{%- set sentinel_port = 26379 %}
{%- set redis_port = site.get('intermediate', {}).get('redis', {}).get('port', 6379) %}
{%- set previous = namespace(title='pillar is valid for the site', kind='salt') %}

{#- One step: FUN on TGT (list), after the previous step; the step's title becomes the next one's
    requisite. state.single FUN (a gate or a drain/ready) fails the minion's job when the state fails. -#}
{%- macro function(title, tgt, fun, arg=[], kwarg={}, wait=0, batch=0) %}

{{ title | json }}:
  salt.function:
    - tgt: {{ tgt | json }}
    - tgt_type: list
    - name: {{ fun }}
    - arg: {{ arg | json }}
{%-   if kwarg %}
    - kwarg: {{ kwarg | json }}
{%-   endif %}
{%-   if batch %}
    - batch: {{ batch | string | json }}
{%-   endif %}
{%-   if wait %}
    - retry:
        attempts: {{ (wait / 2) | round(0, 'ceil') | int + 1 }}
        interval: 2
{%-   endif %}
    - failhard: True
    - require:
{%-   if previous.title == 'pillar is valid for the site' %}
      - fileshare_pillar: pillar is valid for the site
{%-   else %}
      - salt: {{ previous.title | json }}
{%-   endif %}
{%-   set previous.title = title %}
{%- endmacro %}

{#- wait: seconds a gate after a change may take to pass (checked every 2 s) before the step fails. #}
{%- macro gate(title, tgt, state, kwarg, wait=0) %}
{{- function(title, tgt, 'state.single', [state], kwarg, wait) }}
{%- endmacro %}

{%- macro shell(title, tgt, script) %}
{#- The script goes as the cmd keyword: a positional `a=b ...` would be parsed as a keyword argument. #}
{{- function(title, tgt, 'cmd.run', [], {'cmd': script, 'shell': '/bin/bash', 'python_shell': True}) }}
{%- endmacro %}

{%- macro upgrade(title, tgt) %}

{{ title | json }}:
  salt.state:
    - tgt: {{ tgt | json }}
    - tgt_type: list
    - sls: fileshare.release
    - pillar: {{ override | json }}
    - failhard: True
    - require:
      - salt: {{ previous.title | json }}
{%-   set previous.title = title %}
{%- endmacro %}

{{ validated() }}

{#- ---------------------------------------------------------------- pre-flight: touch nothing yet #}
{%- if site.get('architecture', 'all_in_one') not in ['mini_ha', 'full_ha'] %}

an HA architecture can be upgraded while it serves:
  test.fail_without_changes:
    - name: "a rolling upgrade needs mini_ha or full_ha: on all_in_one apply fileshare.release in a maintenance window"
    - failhard: True
    - require:
      - fileshare_pillar: pillar is valid for the site
{%- elif not release.get('name') %}

a release is named in fileshare:release:name:
  test.fail_without_changes:
    - name: "no release to upgrade to: give fileshare:release:name (and packages) in the pillar"
    - failhard: True
    - require:
      - fileshare_pillar: pillar is valid for the site
{%- else %}

{#- Only what the suite ships to nodes (_modules, _states), three nodes at a time: each sync is ~1 s of
    a node's CPU even when nothing changed (saltutil.sync_all: ~2.5 s, 19 kinds and a pillar refresh),
    and all of a site's nodes at once is a spike its clients feel (measured in the lab, where 13 nodes
    share 2 cores: requests of 1-4 s for ~15 s). #}
{{ function("pre-flight: the suite's state modules are synced to every node, three at a time", targets(),
            'saltutil.sync_states', batch=3) }}
{{ function("pre-flight: the suite's execution modules are synced to every node, three at a time", targets(),
            'saltutil.sync_modules', batch=3) }}

{{ gate('pre-flight: the Galera cluster is quorate with every member Synced', role.db | join(','),
        'galera.quorate', {'name': galera_name}) }}

{%-   for node in role.app %}
{{ gate('pre-flight: app node ' ~ node ~ ' serves on every load node', load_targets, 'fileshare_haproxy.serving',
        {'name': node, 'backend': 'fs_app'}) }}
{{ shell('pre-flight: app node ' ~ node ~ ' answers /health with 200', node,
         'code=$(curl -s -o /dev/null -w "%{http_code}" --max-time 10 -H "Host: ' ~ fqdn ~ '" http://'
         ~ nodes[node].address ~ ':' ~ app_port ~ '/health); [ "$code" = 200 ] && echo "/health 200" || '
         ~ '{ echo "' ~ node ~ ' /health answered ${code:-nothing}" >&2; exit 1; }') }}
{%-   endfor %}

{{ gate('pre-flight: the Sentinels agree on one Redis master with every replica online',
        role.intermediate | join(','), 'fileshare_redis.quorate', {'name': 'fileshare', 'port': sentinel_port}) }}

{%-   set heal_check %}
vol={{ volume }}; want={{ role.storage | length }}; deadline=$((SECONDS + TIMEOUT))
while :; do
  out=$(gluster volume heal "$vol" info 2>&1)
  bricks=$(grep -c '^Brick ' <<<"$out")
  down=$(grep '^Status: ' <<<"$out" | grep -vc 'Status: Connected')
  pending=$(awk -F': ' '/^Number of entries:/ {n += $2} END {print n + 0}' <<<"$out")
  if [ "$bricks" -eq "$want" ] && [ "$down" -eq 0 ] && [ "$pending" -eq 0 ]; then
    echo "volume $vol: $bricks bricks connected, nothing to heal"; exit 0
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "volume $vol: $bricks of $want bricks listed, $down not connected, $pending entries to heal" >&2; exit 1
  fi
  sleep 2
done
{%-   endset %}
{{ shell('pre-flight: the Gluster volume has every brick connected and nothing to heal',
         role.storage[:1] | join(','), heal_check | replace('TIMEOUT', '0')) }}

{#- ---------------------------------------------------------------- app nodes, one at a time #}
{%-   for node in role.app %}
{{ gate('app node ' ~ node ~ ' is drained on every load node (no new request, its sessions ended)',
        load_targets, 'fileshare_haproxy.drained', {'name': node, 'backend': 'fs_app', 'timeout': 60}) }}
{{ upgrade('app node ' ~ node ~ ' (drained) runs release ' ~ release.name, node) }}
{{ shell('app node ' ~ node ~ ' (drained) answers /health with 200 on release ' ~ release.name, node,
         'for i in $(seq 60); do code=$(curl -s -o /dev/null -w "%{http_code}" --max-time 5 -H "Host: ' ~ fqdn
         ~ '" http://' ~ nodes[node].address ~ ':' ~ app_port ~ '/health); [ "$code" = 200 ] && exit 0; '
         ~ 'sleep 1; done; echo "/health answered ${code:-nothing} for 60 s" >&2; exit 1') }}
{{ gate('app node ' ~ node ~ ' takes traffic again on every load node', load_targets, 'fileshare_haproxy.ready',
        {'name': node, 'backend': 'fs_app', 'timeout': 60}) }}
{%-   endfor %}

{#- ---------------------------------------------------------------- database nodes, one at a time
    Backups first, the writer (the first db node) last: the writer moves once. #}
{%-   for node in role.db | reverse %}
{{ gate('database node ' ~ node ~ ' may be taken down (galera.safe_to_take_down)', node,
        'galera.safe_to_take_down', {'name': galera_name}) }}
{{ gate('database node ' ~ node ~ ' is in maint in the database front on every load node', load_targets,
        'fileshare_haproxy.maint', {'name': node, 'backend': 'fs_db', 'timeout': 20}) }}
{{ gate('database node ' ~ node ~ ' (in maint) is not the writer on any load node', load_targets,
        'fileshare_haproxy.writer_elsewhere', {'name': node, 'backend': 'fs_db'}) }}
{{ upgrade('database node ' ~ node ~ ' (in maint) runs release ' ~ release.name ~ ', Synced again', node) }}
{{ gate('database node ' ~ node ~ ' (in maint): the Galera cluster is quorate at full size', role.db | join(','),
        'galera.quorate', {'name': galera_name}) }}
{{ gate('database node ' ~ node ~ ' takes connections again on every load node', load_targets,
        'fileshare_haproxy.ready', {'name': node, 'backend': 'fs_db', 'timeout': 60}) }}
{%-   endfor %}

{#- ---------------------------------------------------------------- intermediate nodes, one at a time
    The first intermediate node is the initial Redis master: it comes last, so replicas go first and
    one failover does. Whatever the master is now (Sentinel may have moved it), a node hands it over
    before it restarts. The Redis password is read on the node, never passed on a command line. #}
{%-   for node in role.intermediate | reverse %}
{%-     set handover %}
export REDISCLI_AUTH="$(sed -n 's/^requirepass "\(.*\)"$/\1/p' /etc/redis/*.conf | head -n 1)"
redis() { redis-cli --no-auth-warning -h {{ nodes[node].address }} -p {{ redis_port }} "$@"; }
role() { redis info replication | tr -d '\r' | sed -n 's/^role://p'; }
sentinel() { env -u REDISCLI_AUTH redis-cli -h {{ nodes[node].address }} -p {{ sentinel_port }} "$@"; }
now=$(role)
if [ "$now" != master ]; then echo "{{ node }} is a Redis ${now:-unknown}: nothing to hand over"; exit 0; fi
# SENTINEL FAILOVER alone promotes a replica and leaves this node a writable master until Sentinel's
# next look at it (measured: two masters behind HAProxy for over 10 s; writes there are lost, redis
# issue 13118). So writes wait here (paused, not refused) while Sentinel promotes, then this node
# follows the new master at once and the paused writes get READONLY, which clients retry.
# The pause is short (6 s: a paused write must not outlast a client's patience). A promotion that does
# not come in time (measured once: another Sentinel turned the promoted replica back into a replica,
# and the failover hung until its 60 s timeout while 11 PUTs timed out behind a 15 s pause) is waited
# out with writes flowing, then tried again, three times at most.
new_master() {
  local m; m=$(sentinel sentinel get-master-addr-by-name fileshare | head -n 1)
  [ -n "$m" ] && [ "$m" != "{{ nodes[node].address }}" ] && echo "$m"
}
in_failover() { sentinel sentinel master fileshare | tr -d '\r' | grep -q failover_in_progress; }
new=""
for attempt in 1 2 3; do
  redis client pause 6000 write >/dev/null
  if sentinel sentinel failover fileshare | grep -q '^OK'; then
    for i in $(seq 55); do new=$(new_master) && break; sleep 0.1; done
  fi
  [ -n "$new" ] && break
  redis client unpause >/dev/null
  echo "attempt $attempt: no new Redis master 5.5 s after SENTINEL FAILOVER; waiting for Sentinel to end it" >&2
  for i in $(seq 90); do new=$(new_master) && break 2; in_failover || break; sleep 1; done
done
if [ -z "$new" ]; then
  redis client unpause >/dev/null
  echo "Sentinel named no new Redis master after 3 SENTINEL FAILOVERs: {{ node }} stays master" >&2; exit 1
fi
redis replicaof "$new" {{ redis_port }} >/dev/null
redis client unpause >/dev/null
for i in $(seq 60); do
  [ "$(role)" = slave ] && { echo "{{ node }} handed the Redis master over to $new (SENTINEL FAILOVER)"; exit 0; }
  sleep 1
done
echo "{{ node }} is still the Redis master 60 s after SENTINEL FAILOVER" >&2; exit 1
{%-     endset %}
{{ shell('intermediate node ' ~ node ~ ' does not hold the Redis master (Sentinel failover if it did)', node,
         handover) }}
{{ upgrade('intermediate node ' ~ node ~ ' (a replica) runs release ' ~ release.name, node) }}
{#- Sentinel refreshes its view of the replicas every 10 s: a restarted replica shows online late. #}
{{ gate('intermediate node ' ~ node ~ ': the Sentinels agree again with every replica online',
        role.intermediate | join(','), 'fileshare_redis.quorate', {'name': 'fileshare', 'port': sentinel_port},
        wait=60) }}
{%-   endfor %}

{#- ---------------------------------------------------------------- storage nodes, one at a time #}
{%-   for node in role.storage %}
{{ upgrade('storage node ' ~ node ~ ' runs release ' ~ release.name, node) }}
{{ shell('storage node ' ~ node ~ ': every brick connected and every heal finished (at most 300 s)',
         role.storage[:1] | join(','), heal_check | replace('TIMEOUT', '300')) }}
{%-   endfor %}

{#- ---------------------------------------------------------------- load nodes, one at a time
    The BACKUP first. keepalived stopped cleanly sends a priority-0 advertisement: the BACKUP takes
    the VIP within a second. The sessions opened on the old holder stay there (vip_handoff) until they
    end: HAProxy is restarted on a node only once none is left. #}
{%-   for node in role.load | reverse %}
{%-     set handover %}
held() { ip -4 -o addr show | grep -q " {{ vip }}/"; }
if ! held; then echo "{{ node }} does not hold the VIP {{ vip }}"; exit 0; fi
systemctl stop keepalived
for i in $(seq 30); do held || break; sleep 1; done
held && { echo "{{ node }} still holds the VIP 30 s after keepalived stopped" >&2; exit 1; }
for i in $(seq 30); do
  code=$(curl -s -o /dev/null -w "%{http_code}" --max-time 5 --resolve {{ fqdn }}:443:{{ vip }} -k https://{{ fqdn }}/health)
  [ "$code" = 200 ] && { echo "{{ node }} gave the VIP up; another load node answers on it"; exit 0; }
  sleep 1
done
echo "nobody answers on the VIP after {{ node }} gave it up (last: ${code:-nothing})" >&2; exit 1
{%-     endset %}
{#-     Also on a node that did not hold the VIP: it may still own sessions from an earlier move. A
        reload leaves them to HAProxy's old process, which closes idle keep-alive connections and
        answers the others with Connection: close; clients reopen on the VIP holder. #}
{%-     set drain %}
sessions() { ss -Htn state established "( sport = :80 or sport = :443 )" src {{ vip }} | wc -l; }
[ "$(sessions)" = 0 ] && { echo "no web session open on {{ node }}"; exit 0; }
systemctl reload haproxy
for i in $(seq 60); do
  n=$(sessions); [ "$n" = 0 ] && { echo "every web session on {{ node }} ended (${i} s)"; exit 0; }
  sleep 1
done
echo "$n web sessions still open on {{ node }} 60 s after HAProxy's reload; not upgrading it" >&2; exit 1
{%-     endset %}
{{ shell('load node ' ~ node ~ ' does not hold the VIP (keepalived stopped cleanly if it did)', node, handover) }}
{{ shell('load node ' ~ node ~ ' has no web session left (HAProxy reloaded to finish them, at most 60 s)', node,
         drain) }}
{{ upgrade('load node ' ~ node ~ ' (without the VIP) runs release ' ~ release.name, node) }}
{{ shell('load node ' ~ node ~ ' runs keepalived again (it takes the VIP back after preempt_delay if first)', node,
         'systemctl start keepalived && systemctl is-active keepalived && '
         ~ 'for i in $(seq 30); do systemctl is-active --quiet haproxy && exit 0; sleep 1; done; exit 1') }}
{%-   endfor %}

# Through HTTPS at the service's name on the VIP, from each load node: /health 200 and a WebDAV round trip.
{{ function('the file share works end to end through the VIP on release ' ~ release.name, load_targets,
            'state.apply', ['fileshare.infra.smoke']) }}
{%- endif %}
