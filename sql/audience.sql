-- Audiences: personalize.audience, a CRoaring bitmap of profile numbers. Every operator is
-- checked against the same computation in plain SQL (INTERSECT, UNION, EXCEPT, count(DISTINCT))
-- on random sets; bad text and binary input must give clear errors and never crash.
CREATE EXTENSION personalize;
SET search_path = public, personalize;
\set VERBOSITY terse

-- text form: {} or ascending elements, runs of three or more written lo-hi
SELECT '{}'::audience AS empty, '{ 9 , 1,2, 5-7, 6 , 3-3 }'::audience AS mixed,
       '{0,4294967295,4294967294}'::audience AS bounds, '{007,-0}'::audience AS zeros;
SELECT '{4294967290-4294967295}'::audience AS top_run, cardinality('{0-4294967295}'::audience) AS everything;
SELECT ('{1,2,5-9,70000-70010,4294967295}'::audience)::text::audience = '{1,2,5-9,70000-70010,4294967295}' AS text_round_trip;

-- bad text: 22P02 for malformed text, 22003 for numbers outside 0..4294967295
CREATE FUNCTION pg_temp.try(input text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    PERFORM input::personalize.audience;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || ' / ' || coalesce(detail, '');
END $$;
SELECT input, pg_temp.try(input)
  FROM unnest(ARRAY['', '{', '}', '1,2', '{1,,2}', '{,1}', '{1,}', '{1 2}', '{1-}', '{-}', '{1-2-3}',
                    '{a}', '{1.5}', '{1e3}', '{+1}', '{1}x', '{1}}', '{5-1}', '{-1}', '{1--2}',
                    '{4294967296}', '{0-4294967296}', '{99999999999999999999999}', '{NULL}', '[1,2]',
                    '{1,üöäß}', '{' || repeat('1,', 40) || 'x}']) input;
-- the detail and hint say where and what
\set VERBOSITY default
SELECT '{1, 2, x}'::audience;
SELECT '{1, 2'::audience;
SELECT '{10-5}'::audience;
SELECT '{4294967296}'::audience;
\set VERBOSITY terse

-- bigint arguments outside 0..4294967295 are refused with 22003
SELECT audience_from_array(ARRAY[1, -1]);
SELECT audience_from_array(ARRAY[4294967296]);
SELECT audience_agg(g) FROM (VALUES (1), (-7)) v(g);
SELECT contains('{1}', 4294967296);
SELECT -1 <@ '{1}'::audience;
SELECT audience_from_array(ARRAY[3, NULL, 1, 3, 4294967295]) AS nulls_skipped,
       audience_from_array('{}') AS empty_array;

-- operators on small sets
SELECT a & b AS "and", a | b AS "or", a - b AS "minus", b - a AS "minus_rev",
       a = b AS eq, a <> b AS ne, overlap(a, b), round(jaccard(a, b)::numeric, 4) AS jaccard,
       a @> 3 AS has3, 11 <@ a AS has11, contains(b, 15) AS b_has15
  FROM (SELECT '{1-10,100,70000}'::audience AS a, '{5-20,70000,4294967295}'::audience AS b) t;
SELECT jaccard('{}', '{}') AS both_empty, jaccard('{}', '{1}') AS one_empty, overlap('{}', '{1-9}') AS empty_overlap,
       '{}'::audience & '{1}' AS empty_and, '{}'::audience = '{}' AS empty_eq;
SELECT * FROM audience_members('{0,3-5,65535-65537,4294967295}');
SELECT count(*) FROM audience_members('{}');

-- the same set in two encodings (array container vs run container) is equal
SELECT '\x3a300000010000000000020010000000010002000300'::bytea::audience AS array_encoded,
       '\x3a300000010000000000020010000000010002000300'::bytea::audience = '{1-3}' AS equal,
       ('{1-3}'::audience)::bytea = '\x3a300000010000000000020010000000010002000300'::bytea AS same_bytes;

-- random sets: sparse (array containers), dense (bitset containers), runs, and the 2^32 edge
SELECT setseed(0.42);
CREATE TEMP TABLE m (s int, id bigint);
INSERT INTO m SELECT s, (random() * 5000000)::bigint FROM generate_series(1, 2) s, generate_series(1, 3000);
INSERT INTO m SELECT s, g FROM generate_series(3, 4) s, generate_series(0, 40000) g WHERE random() < 0.5;
INSERT INTO m SELECT s, g FROM generate_series(5, 6) s, generate_series(1, 12) r,
                        LATERAL (SELECT (random() * 300000 + 0 * s * r)::bigint AS lo, (random() * 1500)::bigint AS len) x,
                        generate_series(x.lo, x.lo + x.len) g;
INSERT INTO m SELECT 7, 4294967295 - (random() * 70000)::bigint FROM generate_series(1, 2000)
              UNION ALL SELECT 7, (random() * 100)::bigint FROM generate_series(1, 50);
INSERT INTO m SELECT 8, g FROM generate_series(0, 40000) g WHERE g % 3 = 0 OR g BETWEEN 20000 AND 25000;
-- set 9 is empty: no rows in m
CREATE INDEX ON m (s, id);
ANALYZE m;
CREATE TEMP TABLE sets AS
SELECT s.s, (SELECT audience_agg(id) FROM m WHERE m.s = s.s) AS aud FROM generate_series(1, 9) s(s);
UPDATE sets SET aud = '{}' WHERE aud IS NULL;
SELECT s, cardinality(aud), cardinality(aud) = (SELECT count(DISTINCT id) FROM m WHERE m.s = sets.s) AS matches_count_distinct
  FROM sets ORDER BY s;
-- members, text and binary round trips, and a text form built by SQL
SELECT count(*) AS sets,
       count(*) FILTER (WHERE ARRAY(SELECT audience_members(aud)) =
                              ARRAY(SELECT DISTINCT id FROM m WHERE m.s = sets.s ORDER BY id)) AS members_ok,
       count(*) FILTER (WHERE aud::text::audience = aud) AS text_ok,
       count(*) FILTER (WHERE aud::bytea::audience = aud) AS bytea_ok,
       count(*) FILTER (WHERE ('{' || coalesce((SELECT string_agg(id::text, ',' ORDER BY random()) FROM m WHERE m.s = sets.s), '') || '}')::audience = aud) AS sql_text_ok,
       count(*) FILTER (WHERE audience_from_array(ARRAY(SELECT id FROM m WHERE m.s = sets.s)) = aud) AS from_array_ok
  FROM sets;
-- every pair: &, |, - and overlap against INTERSECT, UNION, EXCEPT
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE ARRAY(SELECT audience_members(x.aud & y.aud)) =
                              ARRAY(SELECT id FROM m WHERE m.s = x.s INTERSECT SELECT id FROM m WHERE m.s = y.s ORDER BY 1)) AS and_ok,
       count(*) FILTER (WHERE ARRAY(SELECT audience_members(x.aud | y.aud)) =
                              ARRAY(SELECT id FROM m WHERE m.s = x.s UNION SELECT id FROM m WHERE m.s = y.s ORDER BY 1)) AS or_ok,
       count(*) FILTER (WHERE ARRAY(SELECT audience_members(x.aud - y.aud)) =
                              ARRAY(SELECT id FROM m WHERE m.s = x.s EXCEPT SELECT id FROM m WHERE m.s = y.s ORDER BY 1)) AS minus_ok,
       count(*) FILTER (WHERE overlap(x.aud, y.aud) =
                              (SELECT count(*) FROM (SELECT id FROM m WHERE m.s = x.s INTERSECT SELECT id FROM m WHERE m.s = y.s) q)) AS overlap_ok,
       count(*) FILTER (WHERE jaccard(x.aud, y.aud) = coalesce(
                              (SELECT count(*) FROM (SELECT id FROM m WHERE m.s = x.s INTERSECT SELECT id FROM m WHERE m.s = y.s) q)::float8
                              / nullif((SELECT count(*) FROM (SELECT id FROM m WHERE m.s = x.s UNION SELECT id FROM m WHERE m.s = y.s) q), 0), 1)) AS jaccard_ok,
       count(*) FILTER (WHERE (x.aud = y.aud) = (x.s = y.s) AND (x.aud <> y.aud) = (x.s <> y.s)) AS eq_ok
  FROM sets x, sets y;
-- membership of every member of every set, and of random probes, in every set
SELECT count(*) AS probes,
       count(*) FILTER (WHERE (a.aud @> p.id) = EXISTS (SELECT FROM m WHERE m.s = a.s AND m.id = p.id)) AS contains_ok,
       count(*) FILTER (WHERE (p.id <@ a.aud) = contains(a.aud, p.id)) AS commutator_ok
  FROM sets a,
       (SELECT DISTINCT id FROM m WHERE s IN (1, 7) OR (s IN (3, 5, 8) AND id % 10 = 0)
        UNION SELECT (random() * 300000)::bigint FROM generate_series(1, 500)
        UNION VALUES (0), (4294967295)) p(id);

-- aggregates: NULLs skipped, no rows or only NULLs give NULL
SELECT audience_agg(x) AS some_nulls FROM (VALUES (3), (NULL), (1)) v(x);
SELECT audience_agg(x) IS NULL AS no_rows FROM (VALUES (1)) v(x) WHERE false;
SELECT audience_agg(NULL::bigint) IS NULL AS only_nulls, audience_union_agg(NULL) IS NULL AS union_only_nulls,
       audience_intersect_agg(NULL) IS NULL AS intersect_only_nulls;
SELECT (SELECT audience_union_agg(aud) FROM sets) = (SELECT audience_agg(id) FROM m) AS union_ok;
SELECT audience_union_agg(aud) AS u, audience_intersect_agg(aud) AS i
  FROM (VALUES ('{1-10}'::audience), (NULL), ('{5-20}'), ('{0,7-9,12}')) v(aud);
SELECT audience_intersect_agg(aud) AS with_empty FROM (VALUES ('{1-10}'::audience), ('{}'), ('{5}')) v(aud);
SELECT audience_intersect_agg(aud) = (SELECT audience_agg(id) FROM
          (SELECT id FROM m WHERE m.s = 3 INTERSECT SELECT id FROM m WHERE m.s = 4 INTERSECT SELECT id FROM m WHERE m.s = 8) q) AS intersect_ok,
       audience_union_agg(aud) = (SELECT audience_agg(id) FROM m WHERE m.s IN (3, 4, 8)) AS union_ok
  FROM sets WHERE s IN (3, 4, 8);

-- forced parallel plans: partial states are serialized, deserialized (validated) and combined,
-- including empty states (workers that saw no matching row) and states of different shapes
CREATE TABLE par AS SELECT g AS id, CASE WHEN g % 5 = 0 THEN NULL ELSE (g * 7919) % 1000003 END AS v
  FROM generate_series(1, 200000) g;
CREATE TABLE par_aud AS SELECT g, audience_from_array(ARRAY[g, g + 1, 500000 + g % 7, 1000000]) AS aud
  FROM generate_series(1, 20000) g;
ANALYZE par, par_aud;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT audience_agg(v) FROM par;
CREATE TEMP TABLE par_results AS
SELECT audience_agg(v) AS all_v, audience_agg(v) FILTER (WHERE id < 20) AS few,
       audience_agg(v) FILTER (WHERE id > 1000000) AS none, audience_agg(id % 100) AS small
  FROM par;
EXPLAIN (COSTS OFF) SELECT audience_union_agg(aud), audience_intersect_agg(aud) FROM par_aud;
CREATE TEMP TABLE par_aud_results AS
SELECT audience_union_agg(aud) AS u, audience_intersect_agg(aud) AS i,
       audience_intersect_agg(aud) FILTER (WHERE g = 77) AS one, audience_union_agg(aud) FILTER (WHERE g < 0) AS none
  FROM par_aud;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather; RESET parallel_leader_participation;
SET max_parallel_workers_per_gather = 0;
SELECT p.all_v = s.all_v AS all_ok, p.few = s.few AS few_ok, p.none IS NULL AS none_ok, p.small = s.small AS small_ok,
       cardinality(p.all_v) = s.n AS count_ok, p.few::text AS few, p.small::text AS small
  FROM par_results p,
       (SELECT audience_agg(v) AS all_v, audience_agg(v) FILTER (WHERE id < 20) AS few,
               audience_agg(id % 100) AS small, count(DISTINCT v) AS n FROM par) s;
SELECT r.u = s.u AS union_ok, r.i = s.i AS intersect_ok,
       r.u = (SELECT audience_agg(x) FROM par_aud, audience_members(aud) x) AS union_members_ok,
       r.i::text AS intersection, r.one::text AS one, r.none IS NULL AS none_ok
  FROM par_aud_results r,
       (SELECT audience_union_agg(aud) AS u, audience_intersect_agg(aud) AS i FROM par_aud) s;
RESET max_parallel_workers_per_gather;
DROP TABLE par, par_aud;

-- bad binary input, through the bytea cast and through binary COPY (audience_recv)
CREATE FUNCTION pg_temp.try_bytes(b bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    PERFORM b::personalize.audience;
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || ': ' || detail;
END $$;
CREATE TEMP TABLE recv_in (b bytea);
CREATE TEMP TABLE recv_out (a audience);
-- a bytea column in binary COPY is its raw bytes, which audience_recv then reads
CREATE FUNCTION pg_temp.try_recv(b bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    TRUNCATE recv_in;
    INSERT INTO recv_in VALUES (b);
    EXECUTE format('COPY recv_in TO %L (FORMAT binary)', current_setting('data_directory') || '/audience_recv.bin');
    EXECUTE format('COPY recv_out FROM %L (FORMAT binary)', current_setting('data_directory') || '/audience_recv.bin');
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || ': ' || detail;
END $$;
CREATE TEMP TABLE bad (name text, bytes bytea);
INSERT INTO bad VALUES
  ('valid {1-3} as array', '\x3a300000010000000000020010000000010002000300'),
  ('valid {1-3} as run', '\x3b3000000100000200010001000200'),
  ('empty', ''), ('short', '\x3a30'), ('bad cookie', '\x01020304'),
  ('count truncated', '\x3a300000'), ('too many containers', '\x3a30000001000100'),
  ('run bitmap truncated', '\x3b300100'),
  ('headers truncated', '\x3a3000000100000000'),
  ('offsets truncated', '\x3a300000010000000000020010'),
  ('array truncated', '\x3a3000000100000000000200100000000100020003'),
  ('array unsorted', '\x3a300000010000000000020010000000010003000200'),
  ('array repeated', '\x3a300000010000000000020010000000010001000200'),
  ('trailing byte', '\x3a30000001000000000002001000000001000200030000'),
  ('bad offset', '\x3a300000010000000000020011000000010002000300'),
  ('keys not increasing', '\x3a300000020000000100000000000000180000001a00000001000100'),
  ('run without runs', '\x3b3000000100000000000000'),
  ('run past chunk', '\x3b3000000100000f000100feff0f00'),
  ('runs overlap', '\x3b300000010000030002000100020002000000'),
  ('run cardinality', '\x3b3000000100000200010001000000'),
  ('bitset cardinality', '\x3a300000010000000000ff1f10000000'::bytea || decode(repeat('ff', 8192), 'hex')),
  ('bitset truncated', '\x3a300000010000000000ff1f10000000'::bytea || decode(repeat('ff', 8191), 'hex'));
SELECT name, pg_temp.try_bytes(bytes) AS bytea_cast, pg_temp.try_recv(bytes) = pg_temp.try_bytes(bytes) AS recv_same
  FROM bad;
SELECT a::text FROM recv_out;
-- 4,000 random corruptions of real values: refused or accepted, never a crash
-- (an accepted one is a valid set, whose members, count and text must agree)
CREATE TEMP TABLE corrupt AS
SELECT set_byte(b, (random() * (length(b) - 1))::int, (random() * 255)::int) AS b
  FROM (SELECT aud::bytea AS b FROM sets WHERE s <> 9) v, generate_series(1, 500);
ALTER TABLE corrupt ADD r text;
UPDATE corrupt SET r = pg_temp.try_bytes(b);
SELECT count(*) AS corruptions, count(*) FILTER (WHERE r = 'accepted' OR r LIKE '22P03: %') AS accepted_or_22p03
  FROM corrupt;
SELECT count(*) = count(*) FILTER (WHERE cardinality(b::audience) = (SELECT count(*) FROM audience_members(b::audience))
                                     AND b::audience::text::audience = b::audience) AS accepted_are_consistent
  FROM corrupt WHERE r = 'accepted';
-- binary COPY round trip of real values
SELECT current_setting('data_directory') || '/audience_sets.bin' AS sets_file \gset
COPY (SELECT aud FROM sets ORDER BY s) TO :'sets_file' (FORMAT binary);
TRUNCATE recv_out;
COPY recv_out FROM :'sets_file' (FORMAT binary);
SELECT count(*) AS copied, count(*) FILTER (WHERE EXISTS (SELECT FROM sets WHERE sets.aud = recv_out.a)) AS equal
  FROM recv_out;

-- CRoaring allocates with malloc: errors raised while a bitmap exists must not leak it.
-- The backend's resident memory after 10,000 failing text inputs (each bitmap about 2 kB
-- when the error comes), 100 aborted aggregates of 50,000 ids in 50,000 containers and 800
-- binary operations must not grow (leaks would add up to about 20 MB, 300 MB and 60 MB per round).
CREATE FUNCTION pg_temp.rss_kb() RETURNS bigint LANGUAGE sql AS
$$ SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmRSS:\s+(\d+)'))[1]::bigint $$;
CREATE FUNCTION pg_temp.churn() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    bad_text text := '{' || (SELECT string_agg((g * 7)::text, ',') FROM generate_series(1, 1000) g) || ',x}';
    a personalize.audience := (SELECT personalize.audience_agg(g * 3) FROM generate_series(1, 100000) g);
    b personalize.audience := (SELECT personalize.audience_agg(g * 5) FROM generate_series(1, 100000) g);
    n bigint := 0;
BEGIN
    FOR i IN 1..10000 LOOP
        BEGIN
            PERFORM bad_text::personalize.audience;
        EXCEPTION WHEN invalid_text_representation THEN
            n := n + 1;
        END;
    END LOOP;
    FOR i IN 1..100 LOOP
        BEGIN
            PERFORM personalize.audience_agg(CASE WHEN g = 50000 THEN -1 ELSE g::bigint * 65536 END) FROM generate_series(1, 50000) g;
        EXCEPTION WHEN numeric_value_out_of_range THEN
            n := n + 1;
        END;
    END LOOP;
    FOR i IN 1..200 LOOP
        n := n + personalize.cardinality(a OPERATOR(personalize.&) b) + personalize.cardinality(a OPERATOR(personalize.|) b)
               + personalize.cardinality(a OPERATOR(personalize.-) b) + personalize.overlap(a, b);
    END LOOP;
    -- |a & b| = 20000, |a | b| = 180000, |a - b| = 80000, overlap 20000
    IF n <> 10100 + 200 * (20000 + 180000 + 80000 + 20000) THEN
        RAISE EXCEPTION 'unexpected count %', n;
    END IF;
END $$;
SELECT pg_temp.churn();                 -- warm-up: caches, plpgsql, malloc arenas
SELECT pg_temp.rss_kb() AS rss_before \gset
SELECT pg_temp.churn();
SELECT pg_temp.churn();
SELECT pg_temp.rss_kb() - :rss_before < 8192 AS rss_grew_less_than_8mb;

-- long walks can be cancelled (CHECK_FOR_INTERRUPTS)
SET statement_timeout = '200ms';
SELECT count(*) FROM audience_members('{0-4294967295}');
SELECT cardinality(audience_agg(g)) FROM generate_series(0, 4294967295) g;
RESET statement_timeout;

-- analysts may use all of it
CREATE ROLE regress_audience_analyst IN ROLE personalize_analyst;
SET ROLE regress_audience_analyst;
SELECT audience_agg(g) & '{2-4}' AS agg_and, cardinality('{1-5}'::audience), overlap('{1-5}', '{4-9}'), jaccard('{1}', '{1}'),
       '{1-5}'::audience @> 2 AS has, 2 <@ '{1}'::audience AS in, audience_from_array('{1,2}') = '{1,2}' AS eq,
       audience_union_agg('{1}'::audience), audience_intersect_agg('{1}'::audience)
  FROM generate_series(1, 3) g;
SELECT * FROM audience_members('{7,8}');
RESET ROLE;
DROP ROLE regress_audience_analyst;

DROP TABLE sets, recv_out, par_results, par_aud_results;
DROP EXTENSION personalize;
