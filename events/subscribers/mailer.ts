import fs from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { type Config } from '../../config/index.js';

export interface MailMessage {
  /** Stable per notification: becomes the Message-ID, so a resent copy is recognisable. */
  id: string;
  to: string;
  subject: string;
  text: string;
}

/** Where the notification subscriber's email goes. */
export interface Mailer {
  /** Sends one message; resolves with the Message-ID once the transport has accepted it. */
  send(message: MailMessage): Promise<{ messageId: string }>;
  close(): void;
}

function messageIdOf(message: MailMessage): string {
  return `<${message.id}@order-saga>`;
}

/** Email through an SMTP server (SMTP_URL, e.g. smtp://user:password@smtp.example.com:587). */
export function smtpMailer(smtpUrl: string, from: string): Mailer {
  const transport = nodemailer.createTransport(smtpUrl);
  return {
    async send(message) {
      const messageId = messageIdOf(message);
      await transport.sendMail({ from, to: message.to, subject: message.subject, text: message.text, messageId });
      return { messageId };
    },
    close: () => transport.close(),
  };
}

/**
 * Development mail: each message is composed exactly as SMTP would send it and written to `dir`
 * as `<id>.eml`, which any mail client opens. Nothing leaves the machine.
 */
export function fileMailer(dir: string, from: string): Mailer {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async send(message) {
      const messageId = messageIdOf(message);
      const info = await transport.sendMail({ from, to: message.to, subject: message.subject, text: message.text, messageId });
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(path.join(dir, `${message.id}.eml`), info.message);
      return { messageId };
    },
    close: () => transport.close(),
  };
}

/** SMTP when it is configured, files in MAIL_DIR otherwise. */
export function createMailer(mail: Config['mail']): Mailer {
  return mail.smtpUrl ? smtpMailer(mail.smtpUrl, mail.from) : fileMailer(mail.dir, mail.from);
}
