/* Engine.IO v3's JSONP polling (the reference's polling-jsonp transport): pure codec.
 *
 * A page without XHR loads each poll as a <script>: the response is the payload as a JavaScript
 * string literal handed to the page's callback, `___eio[N]("<payload>");`. It sends through a
 * hidden form: the body is application/x-www-form-urlencoded with the payload in the field `d`,
 * and its newlines escaped (a textarea would turn "\n" into "\r\n"): the client writes a newline
 * as backslash-n and a backslash-n already in the payload as two backslashes and n. */
#ifndef SIO_EIO_JSONP_H
#define SIO_EIO_JSONP_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/* The callback index of a `j` query value: 1 to 9 ASCII digits (what a client sends: its index
 * in ___eio). Returns 0 and sets *out, or SIO_EINVAL for anything else, which the engine refuses
 * with 400 (the reference strips non-digits and would answer a script calling `___eio[]`). */
int sio_eio_jsonp_index(const char *v, size_t len, uint32_t *out);

/* Appends `___eio[index]("...");` to out: the payload escaped as a JSON string, as the
 * reference's JSON.stringify does (quote, backslash and C0 controls; a lone surrogate, which a v3
 * payload may hold as WTF-8, as \uXXXX), and U+2028 / U+2029 as \u2028 / \u2029, which a JSON
 * string may hold raw but a script may not. Returns 0 or SIO_ENOMEM (out then holds a prefix). */
int sio_eio_jsonp_wrap(sio_sbuf_t *out, uint32_t index, const char *payload, size_t len);

/* Decodes a JSONP POST body in place: the form's `d` field, percent-decoded ('+' a space), with
 * the client's newline escaping undone. Returns the payload's length (at body[0..)), or -1 when
 * the form has no `d` or has it twice: the reference then delivers nothing (its query parser
 * gives no string) and still answers "ok". */
long sio_eio_jsonp_form(char *body, size_t len);

#endif
