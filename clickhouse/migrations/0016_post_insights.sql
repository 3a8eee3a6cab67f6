-- Post insights the feed shows next to a post's counters: reach (accounts
-- that saw it) and saves, where the platform reports them (Instagram;
-- Facebook reach). One row per (post, observed hour); the latest wins. Kept
-- beside posts rather than as new posts columns: 18.16 has no ADD COLUMN IF
-- NOT EXISTS, and posts_latest_mv lists its columns.
CREATE TABLE IF NOT EXISTS post_insights (
    user_id     String,
    platform    String,
    account_id  String,
    post_id     String,
    hour        DateTime('UTC'),
    reach       Int64,
    saves       Int64,
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (user_id, platform, post_id, hour)
