import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEMO_KEY_ENCRYPTION_KEY, loadConfig } from '../../src/config/index.js';

const production = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgres://gateway@db.internal/tiergate',
  KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  TOKEN_ISSUER: 'https://tiergate.example',
  TOKEN_AUDIENCE: 'tiergate-api',
};

describe('configuration', () => {
  it('runs in demo mode with the documented defaults', () => {
    expect(loadConfig({})).toMatchObject({ demoMode: true, PORT: 3000, TOKEN_TTL_SECONDS: 900, TRUST_PROXY: false });
  });

  it('production starts only when configured explicitly, never with the demo key', () => {
    expect(loadConfig(production)).toMatchObject({ demoMode: false });
    for (const key of ['DATABASE_URL', 'KEY_ENCRYPTION_KEY', 'TOKEN_ISSUER', 'TOKEN_AUDIENCE'] as const) {
      const env: Record<string, string> = { ...production };
      delete env[key];
      expect(() => loadConfig(env), key).toThrow(new RegExp(`production requires .*${key}`));
    }
    expect(() => loadConfig({ ...production, KEY_ENCRYPTION_KEY: DEMO_KEY_ENCRYPTION_KEY })).toThrow(/demo KEY_ENCRYPTION_KEY/);
  });

  it('names every bad key at once', () => {
    const err = (() => {
      try {
        loadConfig({ PORT: 'eighty', TOKEN_TTL_SECONDS: '3600', LOG_LEVEL: 'loud' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/PORT[\s\S]*TOKEN_TTL_SECONDS[\s\S]*LOG_LEVEL/);
    expect(() => loadConfig({ KEY_ENCRYPTION_KEY: randomBytes(16).toString('base64') })).toThrow(/32 bytes/);
  });

  it.each([
    ['', false],
    ['false', false],
    ['1', 1],
    ['loopback', 'loopback'],
    ['10.0.0.0/8, 192.168.1.7', '10.0.0.0/8, 192.168.1.7'],
  ])('TRUST_PROXY=%j → %j', (value, expected) => {
    expect(loadConfig({ TRUST_PROXY: value }).TRUST_PROXY).toEqual(expected);
  });

  it.each(['true', 'TRUE', 'loopback; rm -rf /', '*'])('refuses TRUST_PROXY=%j: a client must not pick its own address', (value) => {
    expect(() => loadConfig({ TRUST_PROXY: value })).toThrow(/TRUST_PROXY/);
  });
});
