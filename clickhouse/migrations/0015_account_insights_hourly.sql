-- Account insights (reach, views, profile views) at hourly grain, next to
-- account_metrics_hourly: one row per observation of a platform's period,
-- in the period's first hour (the platforms report UTC days, so 00:00).
-- The latest observation of an hour (highest version) wins: a day's value
-- so far is superseded by later reads, and at last by the final one. -1
-- means the platform did not report the metric (none, or retired). Day,
-- month and year values are the sums of the hourly ones (see docs/olap.md).
CREATE TABLE IF NOT EXISTS account_insights_hourly (
    user_id       String,
    platform      String,
    account_id    String,
    link_id       String,
    hour          DateTime('UTC'),
    observed_at   DateTime('UTC'),
    reach         Int64,
    views         Int64,
    profile_views Int64,
    version       UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (user_id, platform, account_id, hour)
