-- Monthly rollup of account_metrics_hourly, one row per (user_id, platform,
-- account_id, month) once merged; recomputed from account_metrics_daily
-- after every insert that touches the bucket (see docs/olap.md). followers
-- is the last hourly value of the bucket; followers_min/max/sum and hours
-- are over the bucket's hourly values (avg = followers_sum / hours).
-- version is the sum of the versions the row was computed from, so a
-- recomputation that saw more data always wins and two rows with one
-- version hold the same values.
CREATE TABLE IF NOT EXISTS account_metrics_monthly (
    user_id       String,
    platform      String,
    account_id    String,
    month         Date,
    handle        String,
    followers     Int64,
    followers_min Int64,
    followers_max Int64,
    followers_sum Int64,
    following     Int64,
    posts_count   Int64,
    hours         UInt64,
    version       UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(month)
ORDER BY (user_id, platform, account_id, month)
