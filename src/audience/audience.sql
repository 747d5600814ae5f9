-- Audiences (src/audience.c): personalize.audience, a compressed bitmap of 32-bit profile
-- numbers stored as a CRoaring portable serialization; set operators, aggregates, rows.

CREATE TYPE personalize.audience;

CREATE FUNCTION personalize.audience_in(cstring)
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize.audience_out(personalize.audience)
RETURNS cstring
AS 'MODULE_PATHNAME', 'personalize_audience_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize.audience_recv(internal)
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize.audience_send(personalize.audience)
RETURNS bytea
AS 'MODULE_PATHNAME', 'personalize_audience_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE personalize.audience (
    INPUT = personalize.audience_in,
    OUTPUT = personalize.audience_out,
    RECEIVE = personalize.audience_recv,
    SEND = personalize.audience_send,
    INTERNALLENGTH = VARIABLE,
    STORAGE = extended
);
COMMENT ON TYPE personalize.audience IS
'Set of profile numbers (0..4294967295), a CRoaring bitmap; text form {} or {1,2,5-9}';

-- bytea casts: the portable serialization, validated in full on the way in
CREATE FUNCTION personalize.audience(bytea)
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_from_bytea'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.audience(bytea) IS
'Audience from a CRoaring portable serialization (validated)';
CREATE CAST (bytea AS personalize.audience) WITH FUNCTION personalize.audience(bytea);
CREATE CAST (personalize.audience AS bytea) WITHOUT FUNCTION;

-- set operations
CREATE FUNCTION personalize.audience_and(personalize.audience, personalize.audience)
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_and'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION personalize.audience_or(personalize.audience, personalize.audience)
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_or'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION personalize.audience_andnot(personalize.audience, personalize.audience)
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_andnot'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION personalize.audience_eq(personalize.audience, personalize.audience)
RETURNS boolean
AS 'MODULE_PATHNAME', 'personalize_audience_eq'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION personalize.audience_ne(personalize.audience, personalize.audience)
RETURNS boolean
AS 'MODULE_PATHNAME', 'personalize_audience_ne'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize.cardinality(personalize.audience)
RETURNS bigint
AS 'MODULE_PATHNAME', 'personalize_audience_cardinality'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.cardinality(personalize.audience) IS 'Number of profiles in the audience';

CREATE FUNCTION personalize.overlap(personalize.audience, personalize.audience)
RETURNS bigint
AS 'MODULE_PATHNAME', 'personalize_audience_overlap'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.overlap(personalize.audience, personalize.audience) IS
'cardinality(a & b), counted without building the intersection';

CREATE FUNCTION personalize.jaccard(personalize.audience, personalize.audience)
RETURNS double precision
AS 'MODULE_PATHNAME', 'personalize_audience_jaccard'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.jaccard(personalize.audience, personalize.audience) IS
'Jaccard index |a & b| / |a | b|; 1 when both are empty';

CREATE FUNCTION personalize.contains(personalize.audience, bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'personalize_audience_contains'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.contains(personalize.audience, bigint) IS
'Whether the profile belongs to the audience (operator @>)';
CREATE FUNCTION personalize.audience_contained(bigint, personalize.audience)
RETURNS boolean
AS 'MODULE_PATHNAME', 'personalize_audience_contained'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION personalize.audience_members(personalize.audience)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'personalize_audience_members'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION personalize.audience_members(personalize.audience) IS
'The profile numbers of the audience as rows, ascending';

CREATE FUNCTION personalize.audience_from_array(bigint[])
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_from_array'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION personalize.audience_from_array(bigint[]) IS
'Audience of the array''s profile numbers (NULL elements are skipped)';

CREATE OPERATOR personalize.& (
    LEFTARG = personalize.audience, RIGHTARG = personalize.audience,
    FUNCTION = personalize.audience_and, COMMUTATOR = OPERATOR(personalize.&)
);
CREATE OPERATOR personalize.| (
    LEFTARG = personalize.audience, RIGHTARG = personalize.audience,
    FUNCTION = personalize.audience_or, COMMUTATOR = OPERATOR(personalize.|)
);
CREATE OPERATOR personalize.- (
    LEFTARG = personalize.audience, RIGHTARG = personalize.audience,
    FUNCTION = personalize.audience_andnot
);
CREATE OPERATOR personalize.= (
    LEFTARG = personalize.audience, RIGHTARG = personalize.audience,
    FUNCTION = personalize.audience_eq, COMMUTATOR = OPERATOR(personalize.=),
    NEGATOR = OPERATOR(personalize.<>), RESTRICT = eqsel, JOIN = eqjoinsel
);
CREATE OPERATOR personalize.<> (
    LEFTARG = personalize.audience, RIGHTARG = personalize.audience,
    FUNCTION = personalize.audience_ne, COMMUTATOR = OPERATOR(personalize.<>),
    NEGATOR = OPERATOR(personalize.=), RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR personalize.@> (
    LEFTARG = personalize.audience, RIGHTARG = bigint,
    FUNCTION = personalize.contains, COMMUTATOR = OPERATOR(personalize.<@)
);
CREATE OPERATOR personalize.<@ (
    LEFTARG = bigint, RIGHTARG = personalize.audience,
    FUNCTION = personalize.audience_contained, COMMUTATOR = OPERATOR(personalize.@>)
);

-- aggregates: internal state (a CRoaring bitmap freed with the aggregate's memory context)
CREATE FUNCTION personalize.audience_agg_trans(internal, bigint)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_audience_agg_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION personalize.audience_union_trans(internal, personalize.audience)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_audience_union_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION personalize.audience_intersect_trans(internal, personalize.audience)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_audience_intersect_trans'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION personalize.audience_union_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_audience_union_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION personalize.audience_intersect_combine(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_audience_intersect_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION personalize.audience_agg_final(internal)
RETURNS personalize.audience
AS 'MODULE_PATHNAME', 'personalize_audience_agg_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION personalize.audience_agg_serialize(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'personalize_audience_agg_serialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION personalize.audience_agg_deserialize(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'personalize_audience_agg_deserialize'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE personalize.audience_agg(bigint) (
    SFUNC = personalize.audience_agg_trans, STYPE = internal,
    FINALFUNC = personalize.audience_agg_final,
    COMBINEFUNC = personalize.audience_union_combine,
    SERIALFUNC = personalize.audience_agg_serialize,
    DESERIALFUNC = personalize.audience_agg_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize.audience_agg(bigint) IS
'Audience of the non-NULL profile numbers; NULL when there are none';

CREATE AGGREGATE personalize.audience_union_agg(personalize.audience) (
    SFUNC = personalize.audience_union_trans, STYPE = internal,
    FINALFUNC = personalize.audience_agg_final,
    COMBINEFUNC = personalize.audience_union_combine,
    SERIALFUNC = personalize.audience_agg_serialize,
    DESERIALFUNC = personalize.audience_agg_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize.audience_union_agg(personalize.audience) IS
'Union of the non-NULL audiences; NULL when there are none';

CREATE AGGREGATE personalize.audience_intersect_agg(personalize.audience) (
    SFUNC = personalize.audience_intersect_trans, STYPE = internal,
    FINALFUNC = personalize.audience_agg_final,
    COMBINEFUNC = personalize.audience_intersect_combine,
    SERIALFUNC = personalize.audience_agg_serialize,
    DESERIALFUNC = personalize.audience_agg_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE personalize.audience_intersect_agg(personalize.audience) IS
'Intersection of the non-NULL audiences; NULL when there are none';
