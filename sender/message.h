/*
 * message.h: the RFC 5322 message the SMTP provider sends, built from what claim_sends returns
 * (docs/sender.md, "The message"): multipart/alternative of the text and HTML bodies in UTF-8,
 * quoted-printable or base64, folded headers, RFC 2047 encoded words, CRLF line ends.
 */
#ifndef SENDER_MESSAGE_H
#define SENDER_MESSAGE_H

#include <time.h>

#include "json.h"
#include "strbuf.h"

typedef struct mail
{
	const char		*from; /* "addr" or "Display Name <addr>" */
	const char		*to;
	const char		*reply_to; /* may be NULL */
	const char		*subject;
	const char		*text;		 /* may be NULL */
	const char		*html;		 /* may be NULL */
	const char		*message_id; /* "<...@...>" */
	const json_pair *headers;	 /* extra headers (Message-ID among them is ignored) */
	int				 nheaders;
} mail;

/* Appends the message to out, dated date; returns NULL, or why it cannot be built. */
const char *build_message(const mail *m, time_t date, strbuf *out);
/* Copies the bare address of an address field ("Name <a@b>" or "a@b") into out (size n);
 * returns 0, or -1 when there is no plain ASCII address in it. */
int mail_address(const char *field, char *out, size_t n);
/* Appends the base64 encoding of n bytes, without line breaks. */
void base64_encode(strbuf *out, const unsigned char *p, size_t n);

#endif
