-- What the predictions keep about a profile, for the profile's own functions
-- (docs/profiles-and-privacy.md): forget() erases it. The feature vector goes with the profile
-- row (profile_vectors references profiles ON DELETE CASCADE); the profile's cluster of the
-- latest kmeans() run and its items in the recommendation state are erased here. Runs inside
-- forget's SECURITY DEFINER function.

-- Erasure's share of the predictions: the profile's cluster, and its items taken out of the
-- recommendation state at once, by the incremental refresh at the stored window (it consumes the
-- change that deleting the profile's events logged, with whatever else is logged), so that no
-- row of the person waits for the next pg_cron refresh.
CREATE FUNCTION personalize._forget_predictions(profile_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM personalize.profile_clusters c WHERE c.profile_id = _forget_predictions.profile_id;
    IF EXISTS (SELECT FROM personalize.recommendation_profile_items p
                WHERE p.profile_id = _forget_predictions.profile_id) THEN
        PERFORM personalize.refresh_recommendations((SELECT s.as_of FROM personalize.recommendation_state s));
    END IF;
END
$$;
COMMENT ON FUNCTION personalize._forget_predictions(bigint) IS
'Erasure''s share of the predictions: a profile''s cluster, and its items out of the stored recommendation state (an incremental refresh at the stored window)';

REVOKE ALL ON FUNCTION personalize._forget_predictions(bigint) FROM PUBLIC;
