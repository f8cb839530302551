/* JSON text read as JSON.parse reads it, into a cJSON tree that keeps what cJSON alone would lose:
 * pure, no I/O.
 *
 * cJSON strings end at a NUL and cJSON refuses a UTF-16 surrogate without its partner, yet both
 * are valid JSON that JSON.stringify writes ("\u0000"; "\ud83d" for a string cut inside an emoji).
 * The core keeps them losslessly in its strings, in byte forms that are never valid UTF-8
 * otherwise, and sio_json_write (json_write.h) turns them back into the same escapes:
 *   - a NUL character as the two bytes C0 80 ("modified UTF-8");
 *   - a lone surrogate (U+D800..U+DFFF without its partner) as its three-byte form ED A0..BF xx
 *     (WTF-8). A pair stays one character, as UTF-8.
 * Also, as JSON.parse and unlike cJSON: whitespace is only space, tab, CR and LF (cJSON skips a
 * BOM and every byte up to ' '), the text must be exactly one value (whitespace around it), and a
 * "\u" without four hex digits is refused (cJSON reads "\u00zz" as a NUL and cuts the string
 * there). */
#ifndef SIO_JSON_PARSE_H
#define SIO_JSON_PARSE_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Parses text[0..len) into *out (a new tree the caller owns; NULL on error). Returns 0,
 * SIO_EPARSE (not JSON as above, or a NUL byte in the text) or SIO_ENOMEM. Nesting is bounded by
 * cJSON's CJSON_NESTING_LIMIT; callers check their own depth. */
int sio_json_parse(const char *text, size_t len, cJSON **out);

#endif
