// The mail moto accepted (SES v2 raw messages), read as a mail client would: base64
// parts decoded, RFC 2047 subjects decoded.

export interface Mail {
  to: string[];
  subject: string;
  text: string;
  html: string;
}

const MOTO = process.env.BX_MOTO_URL ?? 'http://127.0.0.1:5000';

function decodeWords(header: string): string {
  return header.replace(/=\?utf-8\?([bq])\?([^?]*)\?=/gi, (_, kind: string, data: string) =>
    kind.toLowerCase() === 'b'
      ? Buffer.from(data, 'base64').toString('utf8')
      : data.replace(/_/g, ' ').replace(/=([0-9a-f]{2})/gi, (__, hex: string) => String.fromCharCode(parseInt(hex, 16))),
  );
}

function part(raw: string, type: string): string {
  const found = new RegExp(`Content-Type: ${type}[^]*?\\r?\\n\\r?\\n([A-Za-z0-9+/=\\r\\n]+)`).exec(raw);
  return found ? Buffer.from(found[1].replace(/\s/g, ''), 'base64').toString('utf8') : '';
}

export async function sentMail(): Promise<Mail[]> {
  const response = await fetch(`${MOTO}/moto-api/data.json`);
  // moto fails to list its models while an SQS queue changes: nothing this time.
  if (!response.ok) return [];
  const data = await response.json();
  return (data.ses?.RawMessage ?? []).map((m: any) => {
    const raw: string = m.raw_data ?? '';
    const subject = /^Subject: (.*(?:\r?\n[ \t].*)*)/m.exec(raw)?.[1].replace(/\r?\n[ \t]/g, ' ') ?? '';
    return { to: m.destinations ?? [], subject: decodeWords(subject), text: part(raw, 'text/plain'), html: part(raw, 'text/html') };
  });
}

/** Waits for a mail to `to` that `matches`, as long as mail-send's queue takes. */
export async function waitForMail(to: string, matches: (mail: Mail) => boolean, timeoutMs = 30_000): Promise<Mail> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = (await sentMail()).find((m) => m.to.includes(to) && matches(m));
    if (found) return found;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no mail to ${to} arrived within ${timeoutMs} ms`);
}
