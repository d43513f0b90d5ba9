#!/usr/bin/env bash
# Builds the Debian package popa3d-cpp from this tree (debian/, debhelper) and prints the
# path of the .deb, the only line on standard output; the build's own output goes to
# standard error. The CMake build in build-deb/ is reused, so a second run only packages.
#
#   deb=$(scripts/build-deb.sh)     # build-deb/popa3d-cpp_VERSION_ARCH.deb
#   lintian "$deb"; apt-get install "./$deb"
#
# Needs debhelper, fakeroot and the build dependencies of debian/control
# (scripts/install-deps.sh installs them); not root.
set -euo pipefail
cd "$(dirname "$0")/.."

dpkg-checkbuilddeps >&2
# One build at a time in build-deb/ (two test runs may call this at once).
mkdir -p build-deb
exec 9>build-deb/.lock
flock 9
# debhelper's records of the steps done last time (and its staging directory) go, so that
# CMake configures and builds again (incrementally) and the package holds what is here now.
rm -rf debian/.debhelper debian/popa3d-cpp debian/debhelper-build-stamp debian/files \
  debian/*.debhelper.log debian/*.substvars debian/*.debhelper
{
  nice -n 5 debian/rules build
  fakeroot debian/rules binary
} >&2
version=$(dpkg-parsechangelog --show-field Version)
arch=$(dpkg-architecture --query DEB_HOST_ARCH)
echo "$PWD/build-deb/popa3d-cpp_${version}_${arch}.deb"
