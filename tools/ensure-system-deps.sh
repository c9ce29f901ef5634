#!/usr/bin/env bash
# Installs the system packages the build needs when they are missing: a C compiler, zlib's
# headers (for the test host) and the headers and shared library of the Python that will run
# the plugins. Further arguments are commands a target needs besides (e.g. valgrind for
# `make bench`), each installed from the Debian package of the same name when missing.
set -euo pipefail
python=${1:-python3}
missing=()
for tool in "${@:2}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
# zlib: the test host reads gzip-compressed scap captures (replay, bench-parse)
if ! { command -v cc >/dev/null 2>&1 && echo '#include <zlib.h>' | cc -E -x c - >/dev/null 2>&1; }; then
  missing+=(zlib1g-dev)
fi
if ! "$python" - <<'PY'
import os, sys, sysconfig
inc = sysconfig.get_paths()["include"]
libdir, soname = sysconfig.get_config_var("LIBDIR") or "", sysconfig.get_config_var("INSTSONAME") or ""
ok = os.path.isfile(os.path.join(inc, "Python.h")) and os.path.isfile(os.path.join(libdir, soname))
sys.exit(0 if ok else 1)
PY
then
  missing+=(python3-dev libpython3-dev)
fi
"$python" -c "import venv, ensurepip" 2>/dev/null || missing+=(python3-venv)
# openssl: the k8saudit webhook test makes a self-signed certificate
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
