/*
 * json_node.h: reading the nodes of a JSON document that a checker walks (segment rules,
 * journey definitions): keys of object nodes, node types, and the first key of a node that
 * is not among those allowed, with the text that says which were expected.
 */
#ifndef PERSONALIZE_JSON_NODE_H
#define PERSONALIZE_JSON_NODE_H

#include "utils/jsonb.h"

/* Looks up key in an object node; NULL when absent. */
static inline JsonbValue *
key_of(JsonbValue *obj, const char *key)
{
	return getKeyJsonValueFromContainer(obj->val.binary.data, key, strlen(key), NULL);
}

/* True if the value is a JSON object. */
static inline bool
is_object(JsonbValue *v)
{
	return v && v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

/* True if the value is a JSON array. */
static inline bool
is_array(JsonbValue *v)
{
	return v && v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
}

/* Raises "invalid <document> at <path>" with "Expected <expected>." (SQLSTATE 22023). */
extern void json_node_refuse(const char *document, const char *path, const char *expected) pg_attribute_noreturn();

/*
 * Refuses the first key of an object node that is not in allowed (NULL-terminated), naming its
 * path: a misspelt key, or a node with two kinds' keys, is an error rather than ignored.
 */
extern void json_node_check_keys(const char *document, JsonbValue *obj, const char *path,
								 const char *const *allowed);

#endif
