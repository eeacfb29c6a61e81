{#- The product seam. fileshare:product picks products/<product>.sls. A product state file:
      - installs what the product needs (packages or a checksummed artifact from fileshare:mirrors),
      - serves it through the selected app server by dropping ONE snippet, named 50-product.conf, into
        the app server's snippet directory (Apache: <apache:config_dir>/fileshare.d, nginx:
        <nginx:config_dir>/fileshare-app.d); the server checks its configuration and restarts when a
        state of the product's SLS changes (app/settings.jinja: app.sls.product), and enables the
        modules app.apache_modules lists (where a product's engine adds its own), so a product never
        names the server's states,
      - keeps its state under fileshare:app:data_dir (shared storage on HA architectures),
      - uses the fileshare php-fpm pool (app/php.sls) if it is written in PHP.
    webdav is built; owncloud and seafile plug in here in a later issue. -#}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import mapdata as fileshare with context %}

include:
  - .{{ fileshare.product }}
