{#- A minimal orchestration shaped like the suite's: the validation gate, then one step that changes
    something on the test minion (a marker file), so the tests can see whether anything ran. -#}
pillar is valid for the site:
  fileshare_pillar.validated:
    - name: fileshare
    - failhard: True

the marker is written on the minion:
  salt.function:
    - name: file.touch
    - tgt: {{ salt['config.get']('fsit_minion') }}
    - arg:
      - {{ salt['config.get']('fsit_marker') }}
    - require:
      - fileshare_pillar: pillar is valid for the site
