-- Every insert into posts also lands in posts_current (same version, so a
-- duplicate insert is a duplicate row that the version collapses). Created
-- before 0019 copies posts_latest and before 0020 drops posts_latest_mv:
-- while both views exist every insert lands in both tables, so no post
-- written during the migration is missed.
CREATE MATERIALIZED VIEW IF NOT EXISTS posts_current_mv TO posts_current AS
SELECT user_id, platform, account_id, link_id, post_id, created_at, observed_at,
       text, permalink, likes, comments, shares, views, version
FROM posts
