/*
 * message_check.c: the message builder alone, for test/suites/sender_message: reads one JSON
 * object per line (from, to, reply_to, subject, text, html, message_id, headers_json: a JSON
 * object in a string, date: unix seconds) and writes each built message as "<length>\n"
 * followed by its bytes, or "error: <why>\n".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "message.h"

int
main(void)
{
	char   *line = NULL;
	size_t	cap = 0;
	ssize_t len;

	while ((len = getline(&line, &cap, stdin)) > 0)
	{
		json_pair *in,
			*hdrs = NULL;
		int n = json_object_pairs(line, &in),
			nh = 0;
		mail		m;
		strbuf		out;
		const char *err,
			*date;

		if (n < 0)
		{
			printf("error: input line is not a JSON object\n");
			continue;
		}
		memset(&m, 0, sizeof(m));
		m.from = json_pairs_get(in, n, "from");
		m.to = json_pairs_get(in, n, "to");
		m.reply_to = json_pairs_get(in, n, "reply_to");
		m.subject = json_pairs_get(in, n, "subject");
		m.text = json_pairs_get(in, n, "text");
		m.html = json_pairs_get(in, n, "html");
		m.message_id = json_pairs_get(in, n, "message_id");
		if (m.text && strcmp(m.text, "null") == 0)
			m.text = NULL;
		if (m.html && strcmp(m.html, "null") == 0)
			m.html = NULL;
		if (json_pairs_get(in, n, "headers_json"))
			nh = json_object_pairs(json_pairs_get(in, n, "headers_json"), &hdrs);
		m.headers = hdrs;
		m.nheaders = nh < 0 ? 0 : nh;
		date = json_pairs_get(in, n, "date");
		sb_init(&out);
		err = build_message(&m, date ? (time_t) atoll(date) : 0, &out);
		if (err)
			printf("error: %s\n", err);
		else
		{
			printf("%zu\n", out.len);
			fwrite(out.data, 1, out.len, stdout);
		}
		sb_free(&out);
		json_pairs_free(hdrs, nh < 0 ? 0 : nh);
		json_pairs_free(in, n);
	}
	free(line);
	return 0;
}
