import type { AuthProvider } from 'react-admin';
import { api } from './api';

export interface Me {
  documentId: string;
  email: string;
  displayName: string;
  role: 'admin' | 'editor' | 'author' | 'finance';
  grants: string[];
  permissions: string[];
}

let current: Promise<Me> | null = null;
/** Whether this page has seen a live session, so sign-out has one to end. */
let session = false;

/** The signed-in staff account, asked once per page load and after each sign-in. */
export function me(): Promise<Me> {
  current ??= api<{ data: Me }>('/admin/me').then((a) => {
    session = true;
    return a.body.data;
  });
  current.catch(() => {
    current = null;
  });
  return current;
}

/**
 * Staff sign-in against `POST /admin/login`: the answer sets the HttpOnly session
 * cookie, which is all the console keeps. Permissions are the scopes the API
 * reports for the account (role plus grants); the UI hides what they do not allow,
 * and the API refuses it regardless.
 */
export const authProvider: AuthProvider = {
  async login({ username, password }: { username: string; password: string }) {
    current = null;
    await api('/admin/login', { method: 'POST', json: { email: username, password } });
    await me();
  },
  async logout() {
    current = null;
    if (!session) return;
    session = false;
    try {
      await api('/admin/logout', { method: 'POST' });
    } catch {
      // Expired or revoked meanwhile: nothing left to end.
    }
  },
  async checkAuth() {
    await me();
  },
  async checkError(error: { status?: number }) {
    if (error?.status === 401) {
      current = null;
      throw error;
    }
  },
  async getIdentity() {
    const m = await me();
    return { id: m.documentId, fullName: m.displayName || m.email, role: m.role };
  },
  async getPermissions() {
    try {
      return (await me()).permissions;
    } catch {
      return [];
    }
  },
};

/** Whether the scopes allow `permission` (e.g. `payments.read`). */
export const can = (permissions: unknown, permission: string) =>
  Array.isArray(permissions) && permissions.includes(permission);
