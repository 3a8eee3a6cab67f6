-- The scheduler claims platform accounts, not links (several users may link
-- one account): ClaimDue groups due links by account and Reschedule sets
-- every link of an account at once.
CREATE INDEX links_platform_account_id_idx ON links (platform, account_id);

-- A refresh request is pending while refresh_requested_at is after
-- refresh_served_at. refresh_requested_at is no longer cleared when the
-- fetch is scheduled, so RequestRefresh's debounce holds across a claim.
ALTER TABLE links ADD COLUMN refresh_served_at timestamptz;

-- A link that may have become due early (a refresh press, a new or
-- relinked account) wakes the scheduler (scheduler.Waker), whose poll is
-- then only a fallback. The payload is the platform.
CREATE FUNCTION pulse_links_due_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pulse_links_due', NEW.platform);
    RETURN NULL;
END
$$;
CREATE TRIGGER links_due_notify
    AFTER INSERT OR UPDATE OF refresh_requested_at, status ON links
    FOR EACH ROW WHEN (NEW.status = 'active')
    EXECUTE FUNCTION pulse_links_due_notify();
