#!/bin/sh
# Creates ./secrets/ for docker-compose.yml: random database passwords and signing secrets, and empty
# files for provider credentials (empty = not configured: the local stand-ins answer, development only).
# Existing files are kept, so rerunning never rotates a password the database already has.
# Put real values into the provider files (no trailing spaces; a final newline is fine).
set -eu
cd "$(dirname "$0")/../.."
umask 077
mkdir -p secrets
chmod 700 secrets  # the directory guards them on the host; the files stay readable inside containers
random() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
for name in orderflow_db_password temporal_db_password unsubscribe_secret customer_token_secret; do
  [ -s "secrets/$name" ] || random > "secrets/$name"
done
for name in stripe_api_key stripe_webhook_secret easypost_api_key easypost_webhook_secret avalara_license_key \
            smtp_password; do
  [ -e "secrets/$name" ] || : > "secrets/$name"
done
chmod 644 secrets/*
echo "secrets in $(pwd)/secrets (fill in the provider ones for production)"
