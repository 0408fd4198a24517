-- The claim whose attempt ended with this person's state in Meta fully known (deferred or
-- held after a refusal, every call before it recorded): the next claim need not read the
-- person again before acting. Any other end (a crash, a lost lease, a timeout) leaves it
-- behind the claims, and the next attempt re-reads first.
ALTER TABLE tasks ADD COLUMN settled_claim INTEGER;
