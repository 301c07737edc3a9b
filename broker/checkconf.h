/* broker/checkconf.h - `holdfast --test-config` (checkconf.c): check what
 * start-up would check, without starting: the password and ACL files, the
 * TLS files and http_dir of every listener, that listener addresses
 * resolve, that the store's folder can be made and written (and is not on
 * /proc or another kernel file system), that the log file and the pid file
 * can be written, that `user` exists. */
#ifndef HOLDFAST_CHECKCONF_H
#define HOLDFAST_CHECKCONF_H

#include <stdio.h>

#include "config.h"

/* Every problem is written to out as "Error: FILE:LINE: option: message"
 * (FILE:LINE where the configuration set it; without one for defaults).
 * Returns how many there were. */
int hf_check_config(const struct hf_config *c, FILE *out);

#endif
