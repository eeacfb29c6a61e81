{#- ownCloud plugs in here (see products/init.sls for the contract). Not built yet: refuse clearly instead of
    deploying half a product. -#}

ownCloud is not built yet:
  test.fail_without_changes:
    - name: >-
        fileshare:product is 'owncloud', but this release of the formula builds only 'webdav';
        ownCloud comes with a later release
