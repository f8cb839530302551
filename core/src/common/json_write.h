/* Compact JSON text of a cJSON tree, written the way JSON.stringify writes it: pure, no I/O.
 *
 * cJSON's own printer loses data: it prints numbers with "%1.15g" (9007199254740991 comes out as
 * 9.00719925474099e+15, 0.1 + 0.2 as 0.3) and knows nothing of our NUL convention. This writer:
 *   - objects and arrays in order, no spaces; true, false, null;
 *   - strings escaped as JSON.stringify does: \" \\ \b \f \n \r \t, other bytes below 0x20 as
 *     \u00xx (lower-case hex), every other byte as it is (non-ASCII UTF-8, U+2028/U+2029, DEL);
 *     the two bytes C0 80 (how cJSON strings hold a NUL character, "modified UTF-8", never valid
 *     UTF-8 otherwise) as \u0000, and the three bytes ED A0..BF xx (a lone UTF-16 surrogate held
 *     as WTF-8) as \udxxx, as JSON.stringify writes a surrogate without its partner (a high one held
 *     right before a low one, as CESU-8, is their character's UTF-8). Object keys the same way;
 *   - numbers so that they read back as exactly the same double: NaN and +-Infinity as null (as
 *     JSON.stringify), -0 as 0, integral values below 1e21 in magnitude as plain integers with
 *     every digit of the double's exact value ("%.0f": 2^60 is 1152921504606846976, what Python's
 *     json and integer-aware readers take back exactly; JSON.stringify would pad the shortest
 *     digits with zeros, 1152921504606847000, the same double), any other number with the fewest
 *     significant digits (of 15, 16, 17; fewer for subnormals) that strtod reads back as the same
 *     double, laid out as JSON.stringify lays out numbers: 0.1, 0.30000000000000004, 1.5e-7,
 *     0.000001, 1e+21, 5e-324, 1.7976931348623157e+308. Never locale-dependent: whatever decimal
 *     point the C library's printf uses, '.' is written;
 *   - a cJSON_Raw item as its text, verbatim.
 * Nothing is allocated but the output's growth (numbers are formatted on the stack, strings are
 * appended in runs between escapes). */
#ifndef SIO_JSON_WRITE_H
#define SIO_JSON_WRITE_H

#include <cjson/cJSON.h>

#include "sbuf.h"

/* Longest number text sio_json_number writes (with its terminating NUL). */
#define SIO_JSON_NUMBER_MAX 32

/* Appends the JSON text of `item` (and of its children; its siblings are not written) to `out`.
 * Containers may nest max_depth deep (the top-level container is depth 1; the writer recurses, so
 * keep it modest). Returns 0, SIO_ENOMEM, or SIO_EINVAL for a NULL item, nesting deeper than
 * max_depth, an item of no JSON type or a Raw item without text; on error out->len is as before. */
int sio_json_write(sio_sbuf_t *out, const cJSON *item, int max_depth);

/* Writes the JSON text of the number d (as above) into buf, NUL-terminated; returns its length. */
size_t sio_json_number(double d, char buf[SIO_JSON_NUMBER_MAX]);

#endif
