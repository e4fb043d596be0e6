# The Debian package (CPack DEB): `cd build && cpack -G DEB` -> mrelay_<version>_<arch>.deb,
# installing under /usr. Depends are the Debian runtime packages of what it installs: the
# shared libraries the programs and _mrelay link (ldd, then dpkg -S; dist/tests/
# installed_test.sh checks every linked library is covered), the interpreter and the scientific
# stack the Python package imports, and the tools mrelay-netns runs. The rig's optional
# references (nftables, socat) are Recommends: the relay runs without them.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mrelay)
set(CPACK_PACKAGE_VENDOR mrelay)
set(CPACK_PACKAGE_CONTACT "mrelay maintainers <mrelay@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "userspace multicast relay and its measurement rig")
set(CPACK_PACKAGE_DESCRIPTION
    "mrelay receives multicast UDP on one interface and re-sends every packet to any number of outputs; mrelayctl controls a running relay; mrelay-bench and friends measure it against the kernel's own forwarding in network namespaces; python3 -m mrelay merges results, gates regressions and draws reports.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_STRIP_FILES ON)
# Versions: what Debian 12 ships and the build was checked against.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.36), libstdc++6 (>= 12), libgcc-s1, liburing2 (>= 2.3), libpfm4 (>= 4.13), python3 (>= 3.11), python3-numpy, python3-scipy, python3-matplotlib, iproute2, procps, kmod")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "nftables, socat")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bash-completion")
include(CPack)
