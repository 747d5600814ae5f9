-- Statements for test/audience_valgrind: one per line (single-user backend), errors included.
SET search_path = public, personalize
SELECT '{1,2,5-9,70000,4294967295}'::audience::text
SELECT '{1,2,x}'::audience
SELECT '{1,2,99999999999}'::audience
SELECT '{1-100000,7}'::audience & '{50-200000}'::audience
SELECT cardinality('{1-100000,7}'::audience | '{50-200000}'::audience), cardinality('{1-10}'::audience - '{5}'::audience)
SELECT overlap('{1-100000}', '{50-200000}'), jaccard('{1-10}', '{5-20}'), '{1,2}'::audience = '{1-2}', '{1,2}'::audience <> '{1-3}'
SELECT contains('{1-10}', 5), 7 <@ '{1}'::audience, contains('{1}', -1)
SELECT count(*) FROM audience_members('{1-100000,4294967295}')
SELECT audience_from_array(ARRAY[5,1,NULL,3]), audience_from_array(ARRAY[1,-1])
SELECT cardinality(audience_agg(g * 3)) FROM generate_series(1, 200000) g
SELECT audience_agg(CASE WHEN g = 50000 THEN -1 ELSE g::bigint * 65536 END) FROM generate_series(1, 60000) g
SELECT audience_union_agg(a)::text, audience_intersect_agg(a)::text FROM (VALUES ('{1-10}'::audience), ('{5-20}'), (NULL)) v(a)
SELECT audience_union_agg(CASE WHEN g = 3 THEN '\x01'::bytea::audience ELSE audience_from_array(ARRAY[g]) END) FROM generate_series(1, 5) g
SELECT '\x3a300000010000000000020010000000010003000200'::bytea::audience
SELECT '\x3b3000000100000f000100feff0f00'::bytea::audience
SELECT cardinality(('{0-4294967295}'::audience)::bytea::audience)
SET max_parallel_workers_per_gather = 0
SELECT cardinality(audience_agg(g)) FROM generate_series(1, 10) g GROUP BY g % 3
SELECT audience_intersect_agg(CASE WHEN g = 9 THEN '\x01'::bytea::audience ELSE audience_from_array(ARRAY[g::bigint * 65536, 1]) END) FROM generate_series(1, 10) g
SELECT count(*) FROM (SELECT audience_members(audience_agg(g::bigint * 70000)) FROM generate_series(1, 50000) g) q
