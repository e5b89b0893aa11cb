-- A subscriber's activity (GET /admin/subscribers/{id}/activity) reads their
-- campaign messages, SES events and opens and clicks; deleting a subscriber
-- cascades through the first and last.
CREATE INDEX campaign_messages_subscriber ON campaign_messages (subscriber_id);
CREATE INDEX tracking_events_subscriber ON tracking_events (subscriber_id, created_at);
CREATE INDEX mail_events_subscriber ON mail_events (subscriber, occurred_at) WHERE subscriber IS NOT NULL;
CREATE INDEX automation_enrolments_subscriber ON automation_enrolments (subscriber_id);
