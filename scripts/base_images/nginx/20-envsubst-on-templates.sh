#!/bin/sh
# The official nginx image's: each $NGINX_ENVSUBST_TEMPLATE_DIR/*.template through envsubst into
# $NGINX_ENVSUBST_OUTPUT_DIR; only variables set in the environment are substituted, so nginx's
# own $variables stay.
set -eu
templates=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
out=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
[ -d "$templates" ] || exit 0
defined=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${NGINX_ENVSUBST_FILTER:-}/ ) ? name : \"\" } }" </dev/null))
for template in "$templates"/*"$suffix"; do
  [ -f "$template" ] || continue
  target="$out/$(basename "$template" "$suffix")"
  echo "$0: running envsubst on $template to $target"
  envsubst "$defined" <"$template" >"$target"
done
