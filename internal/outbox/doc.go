// Package outbox delivers the messages of the outbox (storage.OutboxStore)
// to downstream systems as webhooks signed the Standard Webhooks way, and
// deletes delivered messages once their retention has passed. Like
// internal/mail it is transport: which messages exist and what they say is
// decided where they are written (an account erasure writes user.deleted
// in its own transaction); this package only carries them. It carries
// the topics of storage.Topics only: the outbox also holds back-channel
// logouts, which the provider delivers itself (authz/backchannel.go).
//
// Delivery is at least once: a message is sent again when a hook did not
// answer 2xx, when the worker stopped before recording the answer, or when
// its lease ran out mid-send. Receivers dedupe on the webhook-id header,
// the message's ID, which every attempt and every hook share.
package outbox
