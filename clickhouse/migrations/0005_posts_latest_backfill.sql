-- Posts written before posts_latest existed. Re-running it only adds
-- duplicates of existing versions, which change no answer.
INSERT INTO posts_latest (user_id, platform, account_id, link_id, post_id, created_at, observed_at,
                          text, permalink, likes, comments, shares, views, version)
SELECT user_id, platform, account_id, link_id, post_id, created_at, observed_at,
       text, permalink, likes, comments, shares, views, version
FROM posts
