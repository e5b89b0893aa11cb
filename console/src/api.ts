import { HttpError } from 'react-admin';

/** The API's error envelope: `{ data: null, error: { status, name, message, details } }`. */
interface Envelope {
  error?: {
    status: number;
    name: string;
    message: string;
    details?: { errors?: { path: (string | number)[]; message: string }[] };
  };
}

export interface Answer<T> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * Calls the API on this origin. The staff session travels as the HttpOnly
 * `bx_admin_session` cookie (Path=/admin), never through script. A non-2xx answer
 * becomes react-admin's HttpError, with field errors under `body.errors` so forms
 * show them next to the field.
 */
export async function api<T = any>(
  path: string,
  init: { method?: string; json?: unknown; body?: BodyInit; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { Accept: 'application/json', ...init.headers };
  let body = init.body;
  if (init.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(init.json);
  }
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    headers,
    body,
    credentials: 'same-origin',
  });
  const text = await response.text();
  let parsed: any = null;
  if (text && (response.headers.get('Content-Type') ?? '').includes('json')) {
    parsed = JSON.parse(text);
  } else if (text) {
    parsed = text;
  }
  if (!response.ok) {
    const error = (parsed as Envelope | null)?.error;
    const errors: Record<string, string> = {};
    for (const e of error?.details?.errors ?? []) {
      const field = e.path.filter((p) => typeof p === 'string').join('.');
      if (field) errors[field] = e.message;
    }
    throw new HttpError(error?.message ?? response.statusText, response.status, {
      ...(parsed ?? {}),
      errors,
    });
  }
  return { status: response.status, body: parsed as T, headers: response.headers };
}

/** A query string from plain values; arrays repeat the key, empty values are left out. */
export function query(params: Record<string, unknown>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    for (const v of Array.isArray(value) ? value : [value]) search.append(key, String(v));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
