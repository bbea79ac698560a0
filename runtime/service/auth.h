/* auth.h: the bearer token that guards the model endpoints.
 *
 * `serve --token-file F` reads one token at start-up; requests to /v2 and
 * /v2/models/... must then carry `Authorization: Bearer <token>`. The
 * comparison takes the same time whatever the presented token holds, so
 * timing tells an attacker nothing about how much of a guess was right.
 * The token lives in a caller-owned buffer and is never logged.
 */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>

#include "rt.h"

#define RT_TOKEN_MAX 4096 /* bytes of a token, NUL included */

/* Reads the token from path into out (RT_TOKEN_MAX bytes), without
 * leading and trailing whitespace. 0 on success; -1 if the file cannot
 * be read (an environment fault); -2 if it holds no token, or a file of
 * more than RT_TOKEN_MAX bytes (a usage fault: a token is never cut
 * short). err names the file and says which. */
int rt_auth_token_load(const char *path, char out[RT_TOKEN_MAX], char err[RT_ERR_LEN]);

/* 1 if the n bytes at given equal the NUL-terminated want. Its time
 * depends only on strlen(want), never on where the bytes differ. */
int rt_auth_equal(const char *given, size_t n, const char *want);

/* 1 if an Authorization header value (NULL if absent) is "Bearer
 * <token>" with the scheme in any case, else 0. */
int rt_auth_bearer_check(const char *header, const char *token);

#endif
