-- Posts: one row per (post, observed hour); the latest observation wins.
-- Ordered for "latest posts of user U across platforms".
CREATE TABLE IF NOT EXISTS posts (
    user_id     String,
    platform    String,
    account_id  String,
    link_id     String,
    post_id     String,
    created_at  DateTime('UTC'),
    hour        DateTime('UTC'),
    observed_at DateTime('UTC'),
    text        String,
    permalink   String,
    likes       Int64,
    comments    Int64,
    shares      Int64,
    views       Int64,
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (user_id, platform, post_id, hour)
