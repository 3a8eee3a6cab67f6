-- The latest observation of every post, one row per post once merged: what
-- the feed reads; it replaces posts_latest (0003), whose month partitions
-- and 8,192-row granules made the feed, which has no time bound to prune
-- with, read every month of history and whole granules of other users'
-- posts (text included). Yearly partitions and 256-row granules: a page of
-- one user's feed reads one or two partitions and a few granules. Ordered
-- for "latest posts of user U across platforms" (user, then creation
-- time). Identity (user_id, platform, post_id); created_at is part of the
-- sorting key and assumed immutable for a post. Fed by posts_current_mv
-- (0018), filled from posts_latest by 0019; 0020 and 0021 drop the old
-- view and table.
CREATE TABLE IF NOT EXISTS posts_current (
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
PARTITION BY toYear(created_at)
ORDER BY (user_id, created_at, platform, post_id)
SETTINGS index_granularity = 256
