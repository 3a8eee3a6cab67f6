-- Every insert into posts also lands in posts_latest (same version, so a
-- duplicate insert is a duplicate row that the version collapses).
CREATE MATERIALIZED VIEW IF NOT EXISTS posts_latest_mv TO posts_latest AS
SELECT user_id, platform, account_id, link_id, post_id, created_at, observed_at,
       text, permalink, likes, comments, shares, views, version
FROM posts
