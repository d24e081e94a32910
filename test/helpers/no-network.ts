import net from 'node:net';

// Tests talk to loopback only (supertest's ephemeral server, local PostgreSQL). Any other
// outbound connection, such as a token header trying to make us fetch a key, fails the test.
const original = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
  const opts = (typeof args[0] === 'object' && args[0] !== null ? args[0] : { host: args[1] }) as { host?: string; path?: string };
  const host = opts.host ?? 'localhost';
  if (!opts.path && !['localhost', '127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(host)) {
    throw new Error(`outbound network blocked in tests: ${host}`);
  }
  return original.apply(this, args as Parameters<typeof original>);
} as typeof original;
