import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, prettyByDefault } from '../../src/logger.js';

function capture() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

// Values that must never reach the application log, whichever format it is written in.
const SECRETS = {
  password: 'hunter2-password',
  token: 'eyJhbGciOiJFUzI1NiJ9.secret-token',
  headers: { authorization: 'Bearer eyJ.secret-bearer', cookie: 'sid=secret-cookie' },
  body: { givenName: 'Ada', familyName: 'Lovelace-person-data' },
  query: { name: 'Lovelace-query', dob: '1985-02-03' },
  detail: { otp: '123456', client_assertion: 'eyJ.secret-assertion', enrolment_code: 'abcde-secret-code' },
};

describe('application log', () => {
  for (const pretty of [false, true]) {
    it(`redacts tokens, secrets and request content in ${pretty ? 'pretty' : 'JSON'} lines`, () => {
      const out = capture();
      const logger = createLogger('info', { pretty, destination: out.stream });
      logger.info({ requestId: 'r-1', method: 'GET', route: '/v1/subjects/:id', status: 200, ms: 3.2, ...SECRETS }, 'request');
      logger.info(SECRETS, 'something passed in by mistake');
      logger.flush();
      const text = out.text();
      expect(text).toContain('r-1');
      expect(text).toContain('[redacted]');
      for (const leak of ['hunter2', 'secret-', 'Lovelace', '123456', '1985-02-03']) expect(text).not.toContain(leak);
      if (pretty) {
        expect(text).toContain('GET /v1/subjects/:id 200 3.2 ms');
        expect(() => JSON.parse(text.split('\n')[0]!)).toThrow();
      } else {
        for (const line of text.trim().split('\n')) expect(JSON.parse(line)).toHaveProperty('level');
      }
    });
  }

  it('is JSON in production and when piped, pretty only in a terminal outside production', () => {
    expect(prettyByDefault({ NODE_ENV: 'production' }, true)).toBe(false);
    expect(prettyByDefault({ NODE_ENV: 'development' }, false)).toBe(false);
    expect(prettyByDefault({ NODE_ENV: 'development' }, true)).toBe(true);
    expect(prettyByDefault({ NODE_ENV: 'production', LOG_FORMAT: 'pretty' }, false)).toBe(true);
    expect(prettyByDefault({ NODE_ENV: 'development', LOG_FORMAT: 'json' }, true)).toBe(false);
  });
});
