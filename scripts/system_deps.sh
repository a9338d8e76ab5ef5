#!/usr/bin/env bash
# Debian packages fakescope's tests and extras use: Chromium for the browser tests (no browser can be
# downloaded by Playwright here), the dlib 68-landmark model for self-blended images, and tcmalloc
# (a faster allocator for batched CPU inference, used through LD_PRELOAD by the benches).
# Installs only what is missing; without root it prints what to install and carries on.
set -euo pipefail
want=()
[ -x /usr/bin/chromium ] || want+=(chromium)
[ -e /usr/share/dlib/shape_predictor_68_face_landmarks.dat ] || want+=(libdlib-data)
ls /usr/lib/*/libtcmalloc_minimal.so.4 >/dev/null 2>&1 || want+=(libtcmalloc-minimal4)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${want[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
else
    echo "note: install these Debian packages for the full test suite: ${want[*]}" >&2
fi
