import { expect } from 'vitest';

/**
 * A person at the web console over real HTTP, without a browser: keeps the cookies, reads the
 * CSRF token from the last page (every page's sign-out form carries it) and sends it with each
 * post, as a browser submitting the page's own form does. Redirects are not followed.
 */
export class ConsoleClient {
  private readonly cookies = new Map<string, string>();
  private csrf = '';

  constructor(readonly base: string) {}

  /** Signs in through the sign-in form (demo mode: password alone); returns this client. */
  static async signIn(base: string, username: string, password: string): Promise<ConsoleClient> {
    const client = new ConsoleClient(base);
    expect((await client.get('/sign-in')).status).toBe(200);
    const res = await client.post('/sign-in', { username, password });
    expect(res.status, res.text).toBe(303);
    expect(res.headers.get('location')).toBe('/');
    expect((await client.get('/')).status).toBe(200);
    return client;
  }

  /** This session on another instance or worker (sessions live in the database). */
  on(base: string): ConsoleClient {
    const other = new ConsoleClient(base);
    for (const [k, v] of this.cookies) other.cookies.set(k, v);
    other.csrf = this.csrf;
    return other;
  }

  get(path: string): Promise<{ status: number; text: string; headers: Headers }> {
    return this.send(path, { method: 'GET' });
  }

  post(path: string, form: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Headers }> {
    return this.send(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: this.csrf, ...form }).toString(),
    });
  }

  private async send(path: string, init: RequestInit) {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(`${this.base}${path}`, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as object), ...(cookie ? { Cookie: cookie } : {}) },
    });
    for (const set of res.headers.getSetCookie()) {
      const [pair] = set.split(';');
      const at = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, at), pair!.slice(at + 1));
    }
    const text = await res.text();
    const token = /name="_csrf" value="([^"]+)"/.exec(text)?.[1];
    if (token) this.csrf = token;
    return { status: res.status, text, headers: res.headers };
  }
}
