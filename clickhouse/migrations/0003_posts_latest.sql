-- The latest observation of every post, one row per post once merged: what
-- the feed reads. Ordered for "latest posts of user U across platforms"
-- (user, then creation time), so a page of the feed reads a narrow key
-- range. Identity (user_id, platform, post_id); created_at is part of the
-- sorting key and assumed immutable for a post. Fed by posts_latest_mv.
CREATE TABLE IF NOT EXISTS posts_latest (
    user_id     String,
    platform    String,
    account_id  String,
    link_id     String,
    post_id     String,
    created_at  DateTime('UTC'),
    observed_at DateTime('UTC'),
    text        String,
    permalink   String,
    likes       Int64,
    comments    Int64,
    shares      Int64,
    views       Int64,
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(created_at)
ORDER BY (user_id, created_at, platform, post_id)
