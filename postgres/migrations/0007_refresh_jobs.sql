-- 0007_refresh_jobs: what a refresh press became. One row per (link,
-- press); StartRefresh creates it, the scheduler moves it along
-- (queued -> fetching -> processed, or deferred with a reason and the time
-- it will run), and the API marks it visible once the fetched numbers can
-- be read. Rows older than a day are deleted by DeleteOldRefreshJobs.
CREATE TABLE refresh_jobs (
    id          uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    link_id     uuid        NOT NULL REFERENCES links (id) ON DELETE CASCADE,
    state       text        NOT NULL CHECK (state IN ('queued', 'fetching', 'processed', 'visible', 'deferred', 'failed')),
    reason      text        NOT NULL DEFAULT '',
    run_at      timestamptz,
    fetching_at timestamptz,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX refresh_jobs_user_idx ON refresh_jobs (user_id, created_at);
-- At most one unfinished job per link: a press while one runs joins it.
CREATE UNIQUE INDEX refresh_jobs_open_idx ON refresh_jobs (link_id)
    WHERE state IN ('queued', 'fetching', 'deferred');
