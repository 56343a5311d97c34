package authdomain

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"strings"
	"time"
)

// Mailer sends one-time PINs.
type Mailer interface {
	SendPIN(ctx context.Context, to, pin string) error
}

// LogMailer writes one-time PINs to the log instead of sending them, so a
// local install works with no mail server.
type LogMailer struct{ Log *slog.Logger }

// SendPIN logs the PIN.
func (m LogMailer) SendPIN(ctx context.Context, to, pin string) error {
	m.Log.InfoContext(ctx, "one-time PIN (no SMTP server configured, so it is logged instead of mailed)", "email", to, "pin", pin)
	return nil
}

// SMTPMailer sends one-time PINs through an SMTP server.
type SMTPMailer struct {
	Addr     string // host:port
	From     string
	Username string
	Password string
}

// SendPIN mails the PIN.
func (m SMTPMailer) SendPIN(ctx context.Context, to, pin string) error {
	if strings.ContainsAny(to, "\r\n") {
		return fmt.Errorf("authdomain: bad recipient")
	}
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return fmt.Errorf("authdomain: smtp address: %w", err)
	}
	var auth smtp.Auth
	if m.Username != "" {
		auth = smtp.PlainAuth("", m.Username, m.Password, host)
	}
	msg := "From: " + m.From + "\r\nTo: " + to + "\r\nSubject: Your sign-in code\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) +
		"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYour sign-in code is " + pin + ". It works for 10 minutes.\r\n"
	done := make(chan error, 1)
	go func() { done <- smtp.SendMail(m.Addr, auth, m.From, []string{to}, []byte(msg)) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
