-- Posts written before posts_current existed, from posts_latest (every
-- post's latest observations; posts itself holds every observation). Rows
-- already copied through posts_current_mv, or copied again by a second
-- run, are duplicates of existing versions, which change no answer.
INSERT INTO posts_current (user_id, platform, account_id, link_id, post_id, created_at, observed_at,
                           text, permalink, likes, comments, shares, views, version)
SELECT user_id, platform, account_id, link_id, post_id, created_at, observed_at,
       text, permalink, likes, comments, shares, views, version
FROM posts_latest
