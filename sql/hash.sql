-- Hashing and dedup helpers. Expected digests come from sha256sum and from
-- test/reference/fingerprint.py, an independent implementation of the documented algorithm.
CREATE EXTENSION personalize;
\set VERBOSITY terse

-- normalize_email: trim and ASCII-lowercase; options strip +tags and Gmail dots
SELECT personalize.normalize_email('  Foo.Bar+News@Example.COM  ') AS plain,
       personalize.normalize_email('Foo.Bar+News@Example.COM', strip_plus => true) AS no_plus,
       personalize.normalize_email('Foo.Bar+News@GMail.com', true, true) AS gmail,
       personalize.normalize_email('Foo.Bar@example.com', strip_dots => true) AS dots_kept_elsewhere,
       personalize.normalize_email('Ünï@Example.com') AS non_ascii_kept;
SELECT personalize.normalize_email(NULL) IS NULL AS strict;

-- email_hash = sha256sum of the normalized address (printf %s foo@example.com | sha256sum)
SELECT personalize.email_hash(' FOO@example.com ')
     = '321ba197033e81286fedb719d60d4ed5cecaed170733cb4a92013811afc0e3b6' AS matches_sha256sum;
SELECT length(personalize.email_hash('a@b.c')) AS hex_length;

-- malformed addresses are errors with SQLSTATE 22P02
SELECT personalize.normalize_email('no-at-sign');
SELECT personalize.normalize_email('two@@example.com');
SELECT personalize.normalize_email('@example.com');
SELECT personalize.normalize_email('user@');
SELECT personalize.normalize_email('a b@example.com');
SELECT personalize.normalize_email('+tag@example.com', strip_plus => true);
SELECT personalize.email_hash('');
SELECT personalize.email_hash(repeat('a', 250) || '@example.com');
DO $$
BEGIN
    PERFORM personalize.email_hash('nope');
EXCEPTION WHEN invalid_text_representation THEN
    RAISE NOTICE 'sqlstate %', SQLSTATE;
END $$;

-- fingerprint: values from test/reference/fingerprint.py
SELECT personalize.fingerprint('{"b": 1, "a": [1, 2.0, "x"], "cc": {"z": null, "y": true}}') AS fp,
       personalize.fingerprint('{"b": 1, "a": [1, 2.0, "x"], "cc": {"z": null, "y": true}}')
         = -8724652529412300049 AS matches_reference;
-- stable across key order, white space and numeric scale
SELECT personalize.fingerprint('{"cc":{"y":true,"z":null},"a":[1,2,"x"],"b":1.00}') = -8724652529412300049 AS same;
SELECT personalize.fingerprint('"hello"') = -3797663327126357225 AS scalar,
       personalize.fingerprint('[]') = 5716138445788391948 AS empty_array,
       personalize.fingerprint('{}') = 4905387166444775306 AS empty_object,
       personalize.fingerprint('{"price": 19.90}') = -2024136852834071796 AS decimal;
-- different values differ, including array order and string vs number
SELECT count(DISTINCT personalize.fingerprint(v)) AS distinct_fingerprints
  FROM (VALUES ('[1,2]'::jsonb), ('[2,1]'), ('["1",2]'), ('{"a":1}'), ('{"a":"1"}'), ('null'), ('{"a":null}')) t(v);
SELECT personalize.fingerprint(NULL) IS NULL AS strict;
-- deep nesting is handled without a crash, and encoded as documented: 5,000 '[' tokens then 5,000
-- ']' tokens, one byte each, hashed; the first 8 bytes of the SHA-256 read as a signed bigint
SELECT personalize.fingerprint((repeat('[', 5000) || repeat(']', 5000))::jsonb)
     = ('x' || left(encode(sha256(convert_to(repeat('[', 5000) || repeat(']', 5000), 'UTF8')), 'hex'), 16))::bit(64)::bigint
       AS deep_as_documented;

DROP EXTENSION personalize;
