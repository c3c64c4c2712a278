// Package mail sends the provider's emails: a Sender interface, an SMTP
// client on net/smtp (STARTTLS, AUTH PLAIN or LOGIN, a timeout), a Sender
// that writes mails to the log for --dev and unconfigured servers, and the
// text and HTML templates of each mail. It owns no decision about when a
// mail is sent.
package mail
