{#- Seafile plugs in here (see products/init.sls for the contract). Not built yet: refuse clearly instead of
    deploying half a product. -#}

Seafile is not built yet:
  test.fail_without_changes:
    - name: >-
        fileshare:product is 'seafile', but this release of the formula builds only 'webdav';
        Seafile comes with a later release
