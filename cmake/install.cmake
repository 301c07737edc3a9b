# cmake/install.cmake - what `cmake --install` puts where (GNUInstallDirs;
# DESTDIR works for every file).
#
#   sbin/holdfast                       the broker
#   bin/holdfast-db, bin/holdfast-passwd
#   SYSCONFDIR/holdfast/holdfast.conf   conf/holdfast.conf, never over an
#                                       existing one (it is the operator's)
#   SYSCONFDIR/logrotate.d/holdfast     conf/holdfast.logrotate
#   share/holdfast/www                  www/ (for http_dir)
#   share/man/man{1,5,8}                docs/man/*
#   HF_SYSTEMD_UNITDIR/holdfast.service conf/holdfast.service.in, with the
#                                       installed paths filled in
#   HF_SYSUSERS_DIR/holdfast.conf       conf/holdfast.sysusers (the user)
#
# GNUInstallDirs makes SYSCONFDIR "etc" under the prefix, i.e.
# /usr/local/etc; a system install passes -DCMAKE_INSTALL_SYSCONFDIR=/etc
# (README "Install"). With the prefix /usr, GNUInstallDirs itself says /etc,
# and so do we (its relative CMAKE_INSTALL_SYSCONFDIR would mean /usr/etc).
include(GNUInstallDirs)

if(IS_ABSOLUTE "${CMAKE_INSTALL_SYSCONFDIR}" OR
   CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(HF_ETC_DEST "${CMAKE_INSTALL_FULL_SYSCONFDIR}")
else()
  set(HF_ETC_DEST "${CMAKE_INSTALL_SYSCONFDIR}")
endif()
# systemd reads units and sysusers.d from /usr/local/lib as well as
# /usr/lib, so prefix-relative directories work for both usual prefixes.
set(HF_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
  "Where the systemd unit goes (relative: under the prefix)")
set(HF_SYSUSERS_DIR "lib/sysusers.d" CACHE STRING
  "Where the sysusers.d snippet goes (relative: under the prefix)")

# The paths the unit and the programs are started with, once installed.
set(HF_INSTALLED_SBIN "${CMAKE_INSTALL_FULL_SBINDIR}/holdfast")
if(IS_ABSOLUTE "${HF_ETC_DEST}")
  set(HF_INSTALLED_CONF "${HF_ETC_DEST}/holdfast/holdfast.conf")
else()
  set(HF_INSTALLED_CONF
    "${CMAKE_INSTALL_PREFIX}/${HF_ETC_DEST}/holdfast/holdfast.conf")
endif()

install(TARGETS holdfast RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS holdfast-passwd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET holdfast-db)
  install(TARGETS holdfast-db RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# The configuration file: install() always overwrites, so it is copied by
# a script that leaves an existing file alone. The directory is computed
# at install time so that `cmake --install --prefix` and DESTDIR apply.
if(IS_ABSOLUTE "${HF_ETC_DEST}")
  set(_hf_conf_dir "${HF_ETC_DEST}/holdfast")
else()
  set(_hf_conf_dir "\${CMAKE_INSTALL_PREFIX}/${HF_ETC_DEST}/holdfast")
endif()
# file(INSTALL) adds DESTDIR itself; the existence check must add it.
install(CODE "
  set(_dir \"${_hf_conf_dir}\")
  if(EXISTS \"\$ENV{DESTDIR}\${_dir}/holdfast.conf\")
    message(STATUS
      \"Kept (not overwritten): \$ENV{DESTDIR}\${_dir}/holdfast.conf\")
  else()
    file(INSTALL DESTINATION \"\${_dir}\" TYPE FILE
      PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
      FILES \"${CMAKE_SOURCE_DIR}/conf/holdfast.conf\")
  endif()
")

install(FILES ${CMAKE_SOURCE_DIR}/conf/holdfast.logrotate
  DESTINATION ${HF_ETC_DEST}/logrotate.d RENAME holdfast)

install(DIRECTORY ${CMAKE_SOURCE_DIR}/www/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/holdfast/www)

foreach(page holdfast.8 holdfast.conf.5 holdfast-db.1 holdfast-passwd.1)
  string(REGEX MATCH "[0-9]$" sect ${page})
  install(FILES ${CMAKE_SOURCE_DIR}/docs/man/${page}
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man${sect})
endforeach()

configure_file(${CMAKE_SOURCE_DIR}/conf/holdfast.service.in
  ${CMAKE_BINARY_DIR}/holdfast.service @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/holdfast.service
  DESTINATION ${HF_SYSTEMD_UNITDIR})
install(FILES ${CMAKE_SOURCE_DIR}/conf/holdfast.sysusers
  DESTINATION ${HF_SYSUSERS_DIR} RENAME holdfast.conf)
