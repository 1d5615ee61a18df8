/* Reading a BMC's credential from its reference in the spec: a file, or a
 * systemd credential (LoadCredential=/SetCredentialEncrypted= under
 * $CREDENTIALS_DIRECTORY). The password only ever lives in a Secret. */
#pragma once

#include "bmc/bmc.h"
#include "core/secret.h"

/* A credential holds the password; or, when the spec gives no username,
 * "USER:PASSWORD" (split at the first ':', as HTTP basic auth forbids ':'
 * in a user name). One trailing newline is dropped. */
#define BMC_CREDENTIAL_MAX 4096u
#define BMC_USERNAME_MAX 64u

/* Reads m's credential: *ret_username (malloc'd) and *ret_password.
 * -ENXIO when $CREDENTIALS_DIRECTORY is unset for a systemd credential,
 * -E2BIG beyond BMC_CREDENTIAL_MAX, -EACCES for a file others may read or
 * write, -EINVAL for an empty one or one without the username it must
 * carry, -errno from open/read; each with *reterr naming the file. */
int bmc_credential_read(const BmcMachine *m, char **ret_username, Secret **ret_password, char **reterr);
