/*
 * json_node.c: the checks that the walkers of JSON documents share (json_node.h): the first
 * key of a node that the node's kind does not allow, so that a misspelt key is an error that
 * names it rather than a key silently ignored.
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "core/json_node.h"

/* Raises the error for the bad node at path of a document ("segment rule", "journey definition"). */
void
json_node_refuse(const char *document, const char *path, const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s at %s", document, path),
			 errdetail("Expected %s.", expected)));
	pg_unreachable();
}

/* Refuses the first key of obj not in allowed, naming its path and the keys expected. */
void
json_node_check_keys(const char *document, JsonbValue *obj, const char *path, const char *const *allowed)
{
	JsonbIterator	  *it = JsonbIteratorInit(obj->val.binary.data);
	JsonbValue		   k;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char		  *key;
		int			   i;
		StringInfoData buf;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(k.val.string.val, k.val.string.len);
		for (i = 0; allowed[i] && strcmp(allowed[i], key) != 0; i++)
			;
		if (allowed[i])
			continue;
		initStringInfo(&buf);
		appendStringInfoString(&buf, allowed[1] ? "one of the keys " : "only the key ");
		for (i = 0; allowed[i]; i++)
			appendStringInfo(&buf, "%s%s", i ? ", " : "", allowed[i]);
		appendStringInfoString(&buf, " in this node");
		json_node_refuse(document, psprintf("%s.%s", path, key), buf.data);
	}
}
