-- Hourly account metrics: one row per observation; the latest observation
-- of an hour (highest version) wins. Queries read argMax(x, version) grouped
-- by the identity, so duplicates never change an answer, merged or not.
CREATE TABLE IF NOT EXISTS account_metrics_hourly (
    user_id     String,
    platform    String,
    account_id  String,
    link_id     String,
    handle      String,
    hour        DateTime('UTC'),
    observed_at DateTime('UTC'),
    followers   Int64,
    following   Int64,
    posts_count Int64,
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (user_id, platform, account_id, hour)
