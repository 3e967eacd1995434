#!/usr/bin/env bash
# Install the browser libraries of the web interface from the npm registry
# (pinned by package-lock.json) and copy their distribution files into
# src/fangkong/web/static/vendor/, which is not committed (.gitignore).
#
#   htmx.org         -> vendor/htmx.min.js
#   echarts          -> vendor/echarts.min.js
#   swagger-ui-dist  -> vendor/swagger-ui/ (the authenticated /api/docs page)
#
# Install scripts of packages are not run (--ignore-scripts).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vendor="$here/../../src/fangkong/web/static/vendor"

if ! command -v npm >/dev/null 2>&1; then
  # Pages still work as plain forms; live updates, charts and /api/docs need these.
  echo "install.sh: npm not found: skipping HTMX, ECharts and Swagger UI" >&2
  echo "install.sh: install Node.js (Debian: apt-get install npm) and run make install again" >&2
  exit 0
fi

cd "$here"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

rm -rf "$vendor"
mkdir -p "$vendor/swagger-ui" "$vendor/licenses"
modules="$here/node_modules"
cp "$modules/htmx.org/dist/htmx.min.js" "$vendor/htmx.min.js"
cp "$modules/echarts/dist/echarts.min.js" "$vendor/echarts.min.js"
cp "$modules/swagger-ui-dist/swagger-ui-bundle.js" "$modules/swagger-ui-dist/swagger-ui.css" \
  "$vendor/swagger-ui/"
for package in htmx.org echarts swagger-ui-dist; do
  cp "$modules/$package/LICENSE" "$vendor/licenses/$package.LICENSE" 2>/dev/null || true
done
echo "install.sh: browser libraries installed in ${vendor#"$here/../../"}"
