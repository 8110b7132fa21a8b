#!/bin/sh
# One-shot job (admin-tools image), after the server is healthy: the namespace with its retention, then
# the custom search attributes given as arguments (Name=Type, from workflows/search_attributes.ALL).
# Bounded: a few tries, then a non-zero exit that `docker compose up` reports (restart: on-failure:N).
set -eu
: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}" "${RETENTION:?}"
tries=0
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do
  tries=$((tries + 1))
  [ "$tries" -lt 10 ] || { echo "temporal at $TEMPORAL_ADDRESS is not healthy; giving up"; exit 1; }
  sleep 3
done
if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1; then
  temporal operator namespace update --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" --retention "$RETENTION"
else
  temporal operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" --retention "$RETENTION"
fi
existing="$(temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE")"
for pair in "$@"; do
  name="${pair%%=*}"; type="${pair#*=}"
  if printf '%s\n' "$existing" | grep -qw "$name"; then
    continue  # already registered (a type cannot change: rename the attribute instead)
  fi
  temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" \
    --name "$name" --type "$type"
done
echo "namespace $NAMESPACE ready (retention $RETENTION)"
