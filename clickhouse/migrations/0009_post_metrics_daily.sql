-- Daily post activity per account, one row per (user_id, platform,
-- account_id, day) once merged; recomputed from posts and posts_latest after
-- every insert that touches the bucket (see docs/olap.md).
-- posts_published counts posts created in the bucket; likes_gained and
-- comments_gained sum, over the account's posts, the last counter observed
-- by the bucket's end minus the last one observed before its start (0 for
-- a post not observed before). version: as in account_metrics_daily.
CREATE TABLE IF NOT EXISTS post_metrics_daily (
    user_id         String,
    platform        String,
    account_id      String,
    day             Date,
    posts_published UInt64,
    likes_gained    Int64,
    comments_gained Int64,
    version         UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (user_id, platform, account_id, day)
