-- SPDX-License-Identifier: BSD-3-Clause
--
-- 0003_notify.sql - notification templates (control/ctl_notify.c).
--
-- A policy rule's "notify" action names a template; mxgate-control renders
-- it for every notification it sends. Subject and body are UTF-8 text with
-- placeholders, replaced when rendering (the list is in ctl_notify.c's
-- header and in docs/configuration.md):
--   %SENDER% %RECIPIENTS% %SUBJECT% %RULE% %ACTION% %VIRUS% %MSGID%
--   %CLIENTIP% %UUID% %DATE% %NODE% %TO% %VERDICT%   and %% for a '%'.
-- An unknown template name falls back to the row "default" (and a warning
-- is logged); the built-in rows below may be edited but "default" should
-- stay. Headers (From, To, Date, Message-ID, Auto-Submitted, MIME) are
-- mxgate-control's, not the template's.

CREATE TABLE notification_templates (
	name text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
	subject text NOT NULL CHECK (length(subject) <= 900),
	body text NOT NULL CHECK (length(body) <= 65536),
	updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO notification_templates (name, subject, body) VALUES
('default',
 'Notification about your message "%SUBJECT%"',
 E'This is an automatic notification from the mail gateway %NODE%.\n\n'
 'A message was handled by the rule "%RULE%".\n\n'
 '  Sender:     %SENDER%\n'
 '  Recipients: %RECIPIENTS%\n'
 '  Subject:    %SUBJECT%\n'
 '  Message-ID: %MSGID%\n'
 '  Action:     %ACTION%\n\n'
 'Please do not reply to this message.\n'),
('virus-sender',
 'Virus found in your message "%SUBJECT%"',
 E'This is an automatic notification from the mail gateway %NODE%.\n\n'
 'The message you sent contained a virus (%VIRUS%) and was not delivered\n'
 'as sent (action: %ACTION%).\n\n'
 '  Recipients: %RECIPIENTS%\n'
 '  Subject:    %SUBJECT%\n'
 '  Message-ID: %MSGID%\n\n'
 'Please check your computer with an up-to-date virus scanner.\n'
 'Do not reply to this message.\n'),
('virus-recipient',
 'Virus found in a message addressed to you',
 E'This is an automatic notification from the mail gateway %NODE%.\n\n'
 'A message addressed to you contained a virus (%VIRUS%) and was not\n'
 'delivered as sent (action: %ACTION%).\n\n'
 '  Sender:     %SENDER%\n'
 '  Subject:    %SUBJECT%\n'
 '  Message-ID: %MSGID%\n\n'
 'Contact your administrator if you expected this message.\n'),
('dlp-sender',
 'Your message "%SUBJECT%" was stopped by the data protection policy',
 E'This is an automatic notification from the mail gateway %NODE%.\n\n'
 'Your message appears to contain sensitive information and was not\n'
 'delivered as sent: rule "%RULE%", action %ACTION%.\n\n'
 '  Recipients: %RECIPIENTS%\n'
 '  Subject:    %SUBJECT%\n'
 '  Message-ID: %MSGID%\n\n'
 'Contact your administrator if you believe this is a mistake.\n'),
('policy-admin',
 '[mxgate] rule "%RULE%": %ACTION% (%SENDER%)',
 E'Rule "%RULE%" matched a message on %NODE%.\n\n'
 '  Sender:     %SENDER%\n'
 '  Recipients: %RECIPIENTS%\n'
 '  Subject:    %SUBJECT%\n'
 '  Message-ID: %MSGID%\n'
 '  Client IP:  %CLIENTIP%\n'
 '  Verdict:    %VERDICT%\n'
 '  Virus:      %VIRUS%\n'
 '  Action:     %ACTION%\n'
 '  Tracking:   %UUID%\n');
